//! The data sets `cargo xtask download` knows: where each comes from on the
//! Hugging Face Hub, what it is, and how it lands in forger's formats.
//!
//! The repositories and file names are configuration: this table is the one
//! place to change them. They could not be checked from the development
//! machines (no network); the download verifies every file's sha256 against
//! the Hub's LFS digest (its ETag) and, where one is pinned here, against the
//! pin as well.

/// One file of a data set in its Hub repository.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    /// Path inside the repository.
    pub path: &'static str,
    /// A pinned sha256 (lower-case hex), checked besides the Hub's digest.
    pub sha256: Option<&'static str>,
}

/// How the downloaded files become something forger reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// IDX files (gzip), placed in the folder `<cache>/<name>/` under their
    /// standard names.
    Idx,
    /// One MedMNIST `.npz` file, placed as `<cache>/<name>.npz`.
    Npz,
    /// A zip of JPEGs: the images below `strip` are extracted into the image
    /// folder `<cache>/<name>/`, keeping their sub-folders (one per class).
    ZipFolder { strip: &'static str },
}

/// A data set: its name on the command line, what it is, and its source.
#[derive(Debug, Clone, Copy)]
pub struct DataSet {
    pub name: &'static str,
    pub what: &'static str,
    /// Approximate download size.
    pub size: &'static str,
    pub licence: &'static str,
    /// Hugging Face dataset repository (`owner/name`).
    pub repo: &'static str,
    pub revision: &'static str,
    pub files: &'static [Remote],
    pub layout: Layout,
}

const fn file(path: &'static str) -> Remote {
    Remote { path, sha256: None }
}

const IDX_FILES: [Remote; 4] = [
    file("raw/train-images-idx3-ubyte.gz"),
    file("raw/train-labels-idx1-ubyte.gz"),
    file("raw/t10k-images-idx3-ubyte.gz"),
    file("raw/t10k-labels-idx1-ubyte.gz"),
];

const MEDMNIST_REPO: &str = "albertvillanova/medmnist-v2";

/// A MedMNIST v2 2D set at 28x28, one npz file per set.
macro_rules! medmnist {
    ($name:literal, $what:literal, $size:literal, $licence:literal) => {
        DataSet {
            name: $name,
            what: concat!("MedMNIST v2 ", $what, ", 28x28"),
            size: $size,
            licence: concat!($licence, " (cite MedMNIST v2, Yang et al. 2023)"),
            repo: MEDMNIST_REPO,
            revision: "main",
            files: &[file(concat!($name, ".npz"))],
            layout: Layout::Npz,
        }
    };
}

/// Every data set `cargo xtask download` can fetch.
pub const CATALOG: &[DataSet] = &[
    DataSet {
        name: "mnist",
        what: "MNIST handwritten digits, 60k/10k, 28x28 grey (IDX)",
        size: "11 MB",
        licence: "CC BY-SA 3.0",
        repo: "ylecun/mnist",
        revision: "main",
        files: &IDX_FILES,
        layout: Layout::Idx,
    },
    DataSet {
        name: "fashion-mnist",
        what: "Fashion-MNIST clothing, 60k/10k, 28x28 grey (IDX)",
        size: "30 MB",
        licence: "MIT",
        repo: "zalando-datasets/fashion_mnist",
        revision: "main",
        files: &IDX_FILES,
        layout: Layout::Idx,
    },
    medmnist!(
        "pneumoniamnist",
        "PneumoniaMNIST: pediatric chest X-rays, 2 classes",
        "4.2 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "breastmnist",
        "BreastMNIST: breast ultrasound, 2 classes",
        "0.6 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "pathmnist",
        "PathMNIST: colon pathology, 9 classes, RGB",
        "206 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "dermamnist",
        "DermaMNIST: dermatoscopy, 7 classes, RGB",
        "20 MB",
        "CC BY-NC 4.0"
    ),
    medmnist!(
        "octmnist",
        "OCTMNIST: retinal OCT, 4 classes",
        "55 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "retinamnist",
        "RetinaMNIST: fundus camera, 5 grades, RGB",
        "3.3 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "bloodmnist",
        "BloodMNIST: blood cell microscopy, 8 classes, RGB",
        "36 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "tissuemnist",
        "TissueMNIST: kidney cortex microscopy, 8 classes",
        "125 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "organamnist",
        "OrganAMNIST: abdominal CT (axial), 11 classes",
        "38 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "organcmnist",
        "OrganCMNIST: abdominal CT (coronal), 11 classes",
        "16 MB",
        "CC BY 4.0"
    ),
    medmnist!(
        "organsmnist",
        "OrganSMNIST: abdominal CT (sagittal), 11 classes",
        "17 MB",
        "CC BY 4.0"
    ),
    DataSet {
        name: "cats-vs-dogs",
        what: "Kaggle cats vs dogs (Microsoft Asirra), 25k JPEGs, image folder Cat/ Dog/",
        size: "786 MB",
        licence: "Microsoft Research licence: research use only; never commit the images",
        repo: "microsoft/cats_vs_dogs",
        revision: "main",
        files: &[file("kagglecatsanddogs_5340.zip")],
        layout: Layout::ZipFolder {
            strip: "PetImages/",
        },
    },
    DataSet {
        name: "chest-xray-pneumonia",
        what: "Pediatric chest X-rays (Kermany et al. 2018), 5,856 JPEGs, \
               image folders {train,val,test}/{NORMAL,PNEUMONIA}",
        size: "1.2 GB",
        licence: "CC BY 4.0",
        repo: "paultimothymooney/chest-xray-pneumonia",
        revision: "main",
        files: &[file("chest_xray.zip")],
        layout: Layout::ZipFolder {
            strip: "chest_xray/",
        },
    },
];

/// The data set called `name`.
pub fn find(name: &str) -> Option<&'static DataSet> {
    CATALOG.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_set_has_files() {
        for (i, d) in CATALOG.iter().enumerate() {
            assert!(!d.files.is_empty(), "{}", d.name);
            assert!(d.repo.contains('/'), "{}", d.name);
            assert!(CATALOG[i + 1..].iter().all(|e| e.name != d.name));
        }
        assert!(find("pneumoniamnist").is_some() && find("nope").is_none());
    }
}

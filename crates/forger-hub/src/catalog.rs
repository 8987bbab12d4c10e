//! The data sets forger can download: where each comes from on the
//! Hugging Face Hub, what it is, and how it lands in forger's formats.
//!
//! The repositories and file names are configuration: this table is the one
//! place to change them. The development machines have no network, so each
//! entry was checked against public sources (noted beside it) rather than
//! fetched. Every download is verified against the Hub's LFS sha256 (its
//! ETag) and, where one is pinned here, against the pin as well.

use crate::error::{HubError, Result};

/// A split of a data set, as the Hub's dataset repositories name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    /// The split's folder in an image folder: names forger's loader reads
    /// as split folders (`training_set/`, `validation_set/`, `test_set/`).
    pub fn folder(self) -> &'static str {
        match self {
            Self::Train => "training_set",
            Self::Validation => "validation_set",
            Self::Test => "test_set",
        }
    }
}

/// One file of a data set in its Hub repository.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    /// Path inside the repository.
    pub path: &'static str,
    /// A pinned sha256 (lower-case hex), checked besides the Hub's digest.
    pub sha256: Option<&'static str>,
    /// The split a parquet shard holds (`None` for a file of all splits).
    pub split: Option<Split>,
}

/// How the downloaded files become something forger reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One MedMNIST `.npz` file, placed as `<cache>/<name>.npz`.
    Npz,
    /// Parquet shards of encoded images and integer labels (as Hugging Face
    /// `datasets` writes them), decoded to grey and written as the four
    /// MNIST IDX files (gzip) in the folder `<cache>/<name>/`. For small
    /// grey sets of one image size with at most 256 classes.
    ParquetIdx {
        /// The label column.
        label: &'static str,
    },
    /// Parquet shards as above, written as an image folder `<cache>/<name>/`
    /// keeping each image's bytes: one folder per class, inside one folder
    /// per split ([`Split::folder`]) when there are several splits.
    ParquetFolder {
        /// The label column.
        label: &'static str,
        /// Class names by label, used where the file's own metadata names
        /// none.
        classes: &'static [&'static str],
    },
}

/// A data set: its name on the command line, what it is, and its source.
#[derive(Debug, Clone, Copy)]
pub struct DataSet {
    /// The name on the command line, and of its place in the cache.
    pub name: &'static str,
    /// One line on what it is.
    pub what: &'static str,
    /// Approximate download size.
    pub size: &'static str,
    /// Its licence, and what using it asks of the user.
    pub licence: &'static str,
    /// Hugging Face dataset repository (`owner/name`).
    pub repo: &'static str,
    /// Branch, tag or commit.
    pub revision: &'static str,
    /// Its files in the repository, in the order conversion takes them.
    pub files: &'static [Remote],
    /// How the files become something forger reads.
    pub layout: Layout,
}

const fn file(path: &'static str) -> Remote {
    Remote {
        path,
        sha256: None,
        split: None,
    }
}

const fn shard(split: Split, path: &'static str) -> Remote {
    Remote {
        path,
        sha256: None,
        split: Some(split),
    }
}

// MedMNIST v2 at 28x28, one npz file per set, as the official Zenodo record
// has them. Not an official mirror: MedMNIST names only Zenodo. Checked: the
// paths `data/<set>.npz` are the ones code in several public repositories
// downloads from this repository, and one of them pins this commit after
// checking that its pneumoniamnist.npz has the official MD5
// (28209eda62fecd6e6a2d98b1501bb15f).
const MEDMNIST_REPO: &str = "albertvillanova/medmnist-v2";
const MEDMNIST_REVISION: &str = "f6dd981c7400b3e3738bde12ff948b7cc8f0d623";

/// A MedMNIST v2 2D set at 28x28, one npz file per set.
macro_rules! medmnist {
    ($name:literal, $what:literal, $size:literal, $licence:literal) => {
        DataSet {
            name: $name,
            what: concat!("MedMNIST v2 ", $what, ", 28x28"),
            size: $size,
            licence: concat!($licence, " (cite MedMNIST v2, Yang et al. 2023)"),
            repo: MEDMNIST_REPO,
            revision: MEDMNIST_REVISION,
            files: &[file(concat!("data/", $name, ".npz"))],
            layout: Layout::Npz,
        }
    };
}

/// Every data set forger can download.
pub const CATALOG: &[DataSet] = &[
    // Checked: candle-datasets' MNIST loader reads `ylecun/mnist` (from its
    // `refs/convert/parquet` branch); the `main` branch holds the parquet
    // files below: many public scripts read these paths (through the Hub's
    // pandas snippet or `resolve/main` URLs). No IDX files are served.
    // Columns `image` {bytes, path} and `label` int64.
    DataSet {
        name: "mnist",
        what: "MNIST handwritten digits, 60k/10k, 28x28 grey (to IDX)",
        size: "about 20 MB",
        licence: "CC BY-SA 3.0",
        repo: "ylecun/mnist",
        revision: "main",
        files: &[
            shard(Split::Train, "mnist/train-00000-of-00001.parquet"),
            shard(Split::Test, "mnist/test-00000-of-00001.parquet"),
        ],
        layout: Layout::ParquetIdx { label: "label" },
    },
    // Checked: candle-datasets' Fashion-MNIST loader reads this repository
    // (`refs/convert/parquet`); public scripts read the `main` paths below
    // through `resolve/main` URLs.
    DataSet {
        name: "fashion-mnist",
        what: "Fashion-MNIST clothing, 60k/10k, 28x28 grey (to IDX)",
        size: "about 35 MB",
        licence: "MIT",
        repo: "zalando-datasets/fashion_mnist",
        revision: "main",
        files: &[
            shard(Split::Train, "fashion_mnist/train-00000-of-00001.parquet"),
            shard(Split::Test, "fashion_mnist/test-00000-of-00001.parquet"),
        ],
        layout: Layout::ParquetIdx { label: "label" },
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
    // Checked: the repository's commit "Convert dataset to Parquet" (pinned
    // here) added these two shards (the first's LFS pointer: sha256 pinned
    // below, 330,245,704 bytes) and the card's features: `image`, `labels`
    // (not `label`) with names cat, dog; one split, train, 23,410 images.
    DataSet {
        name: "cats-vs-dogs",
        what: "Kaggle cats vs dogs (Microsoft Asirra), 23,410 JPEGs, image folder cat/ dog/",
        size: "722 MB",
        licence: "Microsoft Research licence: research use only; never commit the images",
        repo: "microsoft/cats_vs_dogs",
        revision: "61bec6cba2259a0eaf12025124bcda44a93fb8b3",
        files: &[
            Remote {
                path: "data/train-00000-of-00002.parquet",
                sha256: Some("d2a40bc460fc9ac12a4a0edbe44476cbed5dd0829a8cbc08af9bcbbea5cc9620"),
                split: Some(Split::Train),
            },
            shard(Split::Train, "data/train-00001-of-00002.parquet"),
        ],
        layout: Layout::ParquetFolder {
            label: "labels",
            classes: &["cat", "dog"],
        },
    },
    // Checked: the Hub's file listing of this repository's parquet branch
    // (train 0000 to 0006, validation 0000, a test folder), its licence
    // (CC BY 4.0) and its viewer: 5,216 / 16 / 624 images, Kermany et al.'s
    // split. Inferred, not seen: the test folder's single `0000.parquet`
    // (the branch's naming; identical copies of the data set hold the 624
    // test images, 78 MB, in one file) and the column `label` with names
    // NORMAL, PNEUMONIA (those copies' cards). The file's own metadata
    // takes precedence where it names the classes. The parquet branch is
    // the Hub's own conversion: should it be redone, the ETag check still
    // holds, as no sha256 is pinned.
    DataSet {
        name: "chest-xray-pneumonia",
        what: "Pediatric chest X-rays (Kermany et al. 2018), 5,856 JPEGs, \
               image folders {training,validation,test}_set/{NORMAL,PNEUMONIA}",
        size: "1.2 GB",
        licence: "CC BY 4.0",
        repo: "hf-vision/chest-xray-pneumonia",
        revision: "refs/convert/parquet",
        files: &[
            shard(Split::Train, "default/train/0000.parquet"),
            shard(Split::Train, "default/train/0001.parquet"),
            shard(Split::Train, "default/train/0002.parquet"),
            shard(Split::Train, "default/train/0003.parquet"),
            shard(Split::Train, "default/train/0004.parquet"),
            shard(Split::Train, "default/train/0005.parquet"),
            shard(Split::Train, "default/train/0006.parquet"),
            shard(Split::Validation, "default/validation/0000.parquet"),
            shard(Split::Test, "default/test/0000.parquet"),
        ],
        layout: Layout::ParquetFolder {
            label: "label",
            classes: &["NORMAL", "PNEUMONIA"],
        },
    },
];

/// Where MedMNIST+ (Doerrich et al. 2025) is published: the MedMNIST v2 2D
/// sets at larger sizes, one npz per set and size, `<set>_<size>.npz`
/// (`pneumoniamnist_128.npz`), with the keys and splits of the 28x28 files.
/// Only this Zenodo record has them, and forger downloads from the Hub
/// only, so they are named in the list but fetched by hand; forger's npz
/// reader takes them at their size.
pub const MEDMNIST_PLUS_RECORD: &str = "https://zenodo.org/records/10519652";

/// The image sides MedMNIST+ adds to the 28x28 files.
pub const MEDMNIST_PLUS_SIDES: [usize; 3] = [64, 128, 224];

/// The MedMNIST+ file names of each MedMNIST set in [`CATALOG`], by set:
/// `[<set>_64.npz, <set>_128.npz, <set>_224.npz]`.
pub fn medmnist_plus_files() -> Vec<(&'static str, [String; 3])> {
    CATALOG
        .iter()
        .filter(|d| d.repo == MEDMNIST_REPO)
        .map(|d| {
            (
                d.name,
                MEDMNIST_PLUS_SIDES.map(|side| format!("{}_{side}.npz", d.name)),
            )
        })
        .collect()
}

/// The data set called `name`; an unknown name is an error listing the
/// catalog's names.
pub fn find(name: &str) -> Result<&'static DataSet> {
    CATALOG
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| HubError::UnknownDataSet {
            name: name.to_string(),
            known: CATALOG
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_set_has_files() {
        for (i, d) in CATALOG.iter().enumerate() {
            assert!(!d.files.is_empty(), "{}", d.name);
            assert!(d.repo.contains('/'), "{}", d.name);
            let parquet = !matches!(d.layout, Layout::Npz);
            assert!(
                d.files.iter().all(|f| f.split.is_some() == parquet),
                "{}: parquet shards, and only they, name their split",
                d.name
            );
            assert!(CATALOG[i + 1..].iter().all(|e| e.name != d.name));
        }
        assert_eq!(find("pneumoniamnist").unwrap().name, "pneumoniamnist");
        let plus = medmnist_plus_files();
        assert_eq!(plus.len(), 11);
        let (_, pneumonia) = plus.iter().find(|(n, _)| *n == "pneumoniamnist").unwrap();
        assert_eq!(pneumonia[1], "pneumoniamnist_128.npz");
        let unknown = find("nope").unwrap_err().to_string();
        assert!(
            unknown.contains("`nope`")
                && unknown.contains("mnist, fashion-mnist, pneumoniamnist")
                && unknown.contains("`--list`"),
            "{unknown}"
        );
    }
}

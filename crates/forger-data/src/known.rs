//! The data sets forger knows by name, with their class names and a line
//! on their source and licence: files that number their classes (MedMNIST
//! `.npz`, Fashion-MNIST's IDX files) are given names when [`crate::load`]
//! reads them, so that grids, sites, reports and predictions say
//! "pneumonia", not "1".

use std::path::Path;

/// A data set forger knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDataset {
    /// Its short name.
    pub name: &'static str,
    /// Class names, in label order.
    pub classes: &'static [&'static str],
    /// What it is, where it comes from and under which licence.
    pub description: &'static str,
    /// A published test ROC AUC on it, as a reference line for reports.
    pub reference_auc: Option<&'static str>,
}

const KNOWN: [KnownDataset; 3] = [
    KnownDataset {
        name: "pneumoniamnist",
        classes: &["normal", "pneumonia"],
        description: "PneumoniaMNIST: pediatric chest X-rays (Kermany et al., Cell 2018), from MedMNIST v2 \
                      (Yang et al., Scientific Data 2023), CC BY 4.0; label 0 = normal, 1 = pneumonia.",
        reference_auc: Some(
            "0.943-0.979 for ResNet-18 at 64-128 px (MedMNIST+, Doerrich et al. 2025)",
        ),
    },
    KnownDataset {
        name: "breastmnist",
        classes: &["malignant", "normal_or_benign"],
        description: "BreastMNIST: breast ultrasound (Al-Dhabyani et al., Data in Brief 2020), from MedMNIST v2 \
                      (Yang et al., Scientific Data 2023), CC BY 4.0; label 0 = malignant, 1 = normal or benign.",
        reference_auc: Some(
            "0.871-0.878 for an ImageNet-pretrained ResNet-18 (MedMNIST+, Doerrich et al. 2025)",
        ),
    },
    KnownDataset {
        name: "fashion-mnist",
        classes: &[
            "t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
            "ankle_boot",
        ],
        description: "Fashion-MNIST (Xiao et al. 2017, MIT licence): 28x28 grey images of 10 kinds of clothing.",
        reference_auc: None,
    },
];

/// The known data set at `path`: a MedMNIST file by its name (at any
/// MedMNIST+ size: `pneumoniamnist.npz`, `pneumoniamnist_128.npz`), or a
/// folder of Fashion-MNIST's IDX files by the folder's name.
pub fn known_dataset(path: &Path) -> Option<&'static KnownDataset> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if let Some(stem) = name.strip_suffix(".npz") {
        let base = stem
            .rsplit_once('_')
            .filter(|(_, size)| size.parse::<u32>().is_ok())
            .map_or(stem, |(base, _)| base);
        return KNOWN.iter().find(|k| k.name == base);
    }
    let fashion = name.replace('_', "-").contains("fashion-mnist");
    fashion.then(|| &KNOWN[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medmnist_files_are_known_at_every_size() {
        for file in [
            "pneumoniamnist.npz",
            "pneumoniamnist_128.npz",
            "data/PneumoniaMNIST_64.npz",
        ] {
            let known = known_dataset(Path::new(file)).unwrap();
            assert_eq!(known.classes, ["normal", "pneumonia"], "{file}");
        }
        let breast = known_dataset(Path::new("breastmnist_224.npz")).unwrap();
        assert_eq!(breast.name, "breastmnist");
        assert!(breast.reference_auc.unwrap().contains("0.871-0.878"));
        assert_eq!(
            known_dataset(Path::new("/usr/share/datasets/fashion-mnist"))
                .unwrap()
                .classes
                .len(),
            10
        );
        for unknown in ["mnist", "other.npz", "pneumoniamnist_x.npz", "cats_dogs"] {
            assert!(known_dataset(Path::new(unknown)).is_none(), "{unknown}");
        }
    }
}

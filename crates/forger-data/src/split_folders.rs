//! Image roots whose folders are the splits: `train/`, an optional `val/`
//! and `test/`, each a class-per-folder tree ([`FolderIndex`]) with the same
//! class folders. The names Kaggle and forger's downloads use,
//! `training_set/`, `validation_set/` and `test_set/`, are read the same
//! way. A root with `train/` and `test/` but no `val/` gets its validation
//! split from `train/` when it is loaded ([`crate::LoadConfig::val_split`]).

use std::path::{Path, PathBuf};

use crate::dataset::Part;
use crate::image_folder::FolderIndex;
use crate::{DataError, Result};

/// The folder names each split may have, the short name first.
pub const SPLIT_FOLDER_NAMES: [(Part, [&str; 2]); 3] = [
    (Part::Train, ["train", "training_set"]),
    (Part::Val, ["val", "validation_set"]),
    (Part::Test, ["test", "test_set"]),
];

/// The names `part`'s folder may have.
fn names(part: Part) -> [&'static str; 2] {
    SPLIT_FOLDER_NAMES
        .iter()
        .find(|(p, _)| *p == part)
        .map(|(_, names)| *names)
        .unwrap_or_default()
}

/// The folders under `root` that are named for `part`.
fn present(root: &Path, part: Part) -> Vec<PathBuf> {
    names(part)
        .iter()
        .map(|name| root.join(name))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// Whether `root` holds a training and a test folder (by any of their
/// names): a root of split folders.
pub fn is_split_root(root: &Path) -> bool {
    [Part::Train, Part::Test]
        .iter()
        .all(|&part| !present(root, part).is_empty())
}

/// Whether `root` is a root of split folders (`Ok(true)`) or holds none of
/// them (`Ok(false)`); some split folders without both a training and a
/// test folder (a lone `val/`, say) are an error naming one of them.
pub fn check_split_root(root: &Path) -> Result<bool> {
    if is_split_root(root) {
        return Ok(true);
    }
    let stray = SPLIT_FOLDER_NAMES
        .iter()
        .find_map(|&(part, _)| present(root, part).pop());
    match stray {
        None => Ok(false),
        Some(folder) => Err(DataError::format(
            root,
            format!(
                "has the split folder {} but not both train/ and test/: a root of split \
                 folders holds train/ and test/ (val/ optional), each with one folder per class",
                folder.display()
            ),
        )),
    }
}

/// The folder of `part` under `root`: `None` where there is none, an error
/// where both of its names are there.
pub fn split_folder(root: &Path, part: Part) -> Result<Option<PathBuf>> {
    let mut found = present(root, part);
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => Err(DataError::format(
            root,
            format!(
                "holds both `{}/` and `{}/`: keep one folder per split",
                names(part)[0],
                names(part)[1]
            ),
        )),
    }
}

/// The training tree of `root`: its training folder where it is a root of
/// split folders, `root` itself where it has no split folders (an error
/// as [`check_split_root`] says otherwise).
pub fn training_root(root: &Path) -> Result<PathBuf> {
    Ok(match check_split_root(root)? {
        true => split_folder(root, Part::Train)?.unwrap_or_else(|| root.to_path_buf()),
        false => root.to_path_buf(),
    })
}

/// The listings of a root of split folders.
#[derive(Debug, Clone)]
pub struct SplitTrees {
    /// The training folder's tree.
    pub train: FolderIndex,
    /// The validation folder's tree, where the root has one.
    pub val: Option<FolderIndex>,
    /// The test folder's tree.
    pub test: FolderIndex,
}

impl SplitTrees {
    /// Lists the split folders of `root`, checking that each has the
    /// training folder's classes (so that labels mean the same in every
    /// split); a split whose classes differ is an error naming its folder
    /// and both class lists.
    pub fn discover(root: &Path) -> Result<Self> {
        let folder = |part| {
            split_folder(root, part)?.ok_or_else(|| {
                DataError::format(
                    root,
                    format!(
                        "has no `{}/` folder: a root of split folders holds train/ and test/ (val/ optional)",
                        names(part)[0]
                    ),
                )
            })
        };
        let train = FolderIndex::discover(&folder(Part::Train)?)?;
        let same_classes = |index: FolderIndex| {
            if index.classes() == train.classes() {
                Ok(index)
            } else {
                Err(DataError::format(
                    index.root(),
                    format!(
                        "class folders {:?} differ from those of {}, {:?}: every split needs the same classes",
                        index.classes(),
                        train.root().display(),
                        train.classes()
                    ),
                ))
            }
        };
        let val = match split_folder(root, Part::Val)? {
            Some(dir) => Some(same_classes(FolderIndex::discover(&dir)?)?),
            None => None,
        };
        let test = same_classes(FolderIndex::discover(&folder(Part::Test)?)?)?;
        Ok(Self { train, val, test })
    }

    /// The tree of `part`, `None` for a validation folder the root lacks.
    pub fn part(&self, part: Part) -> Option<&FolderIndex> {
        match part {
            Part::Train => Some(&self.train),
            Part::Val => self.val.as_ref(),
            Part::Test => Some(&self.test),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;

    #[test]
    fn split_folders_by_either_name_with_an_optional_val() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(!is_split_root(root));
        assert!(!check_split_root(root).unwrap());
        write_tree(&root.join("train"), &["a", "b"], &[3, 2]);
        assert!(!is_split_root(root));
        let err = training_root(root).unwrap_err().to_string();
        let train = root.join("train").display().to_string();
        assert!(
            err.contains(&format!("has the split folder {train} but not both")),
            "{err}"
        );
        write_tree(&root.join("test_set"), &["a", "b"], &[1, 1]);
        assert!(is_split_root(root) && check_split_root(root).unwrap());
        assert_eq!(training_root(root).unwrap(), root.join("train"));
        let trees = SplitTrees::discover(root).unwrap();
        assert_eq!((trees.train.len(), trees.test.len()), (5, 2));
        assert!(trees.val.is_none() && trees.part(Part::Val).is_none());

        write_tree(&root.join("val"), &["a", "b"], &[1, 1]);
        let trees = SplitTrees::discover(root).unwrap();
        assert_eq!(trees.part(Part::Val).unwrap().len(), 2);

        write_tree(&root.join("training_set"), &["a", "b"], &[1, 1]);
        let err = SplitTrees::discover(root).unwrap_err().to_string();
        assert!(err.contains("both `train/` and `training_set/`"), "{err}");
    }

    #[test]
    fn a_split_with_other_classes_is_an_error_naming_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_tree(&root.join("train"), &["a", "b"], &[2, 2]);
        write_tree(&root.join("val"), &["a", "c"], &[1, 1]);
        write_tree(&root.join("test"), &["a", "b"], &[1, 1]);
        let err = SplitTrees::discover(root).unwrap_err().to_string();
        let val = root.join("val").display().to_string();
        assert!(
            err.starts_with(&val)
                && err.contains("[\"a\", \"c\"]")
                && err.contains("[\"a\", \"b\"]"),
            "{err}"
        );
    }
}

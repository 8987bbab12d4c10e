//! Image-classification data in parquet, as the Hugging Face Hub serves it,
//! turned into forger's formats.
//!
//! Hugging Face `datasets` writes an `Image` feature as a struct column
//! `image {bytes: binary, path: string}` holding the encoded file (PNG,
//! JPEG...) and a `ClassLabel` as an integer column (int64), with the label
//! names in the file's `huggingface` key-value metadata. Columns are Snappy
//! compressed (pyarrow's default) or, for image bytes in recent `datasets`,
//! not compressed; this reader takes both, through the parquet crate's
//! record API (no arrow). `to_idx` and `to_folder` write what forger reads.

use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::{Type, TypePtr};

use crate::catalog::Split;
use crate::error::ParquetImageError;

mod to_folder;
mod to_idx;

pub use to_folder::write_folder;
pub use to_idx::write_idx;

/// The image column, as HF `datasets` names it.
pub const IMAGE_COLUMN: &str = "image";

/// What the image column must be.
const IMAGE_EXPECTED: &str =
    "a struct {bytes: binary, path: string}, as Hugging Face `datasets` writes an Image feature";

type Result<T> = std::result::Result<T, ParquetImageError>;

/// One row: the encoded image and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Row number in the file, from 0.
    pub row: usize,
    /// The encoded image file (PNG, JPEG...).
    pub bytes: Vec<u8>,
    /// The class label.
    pub label: u32,
}

/// A parquet file of images and labels whose schema has been checked.
pub struct ImageTable {
    path: PathBuf,
    reader: SerializedFileReader<File>,
    label: String,
    projection: Type,
    class_names: Option<Vec<String>>,
}

impl ImageTable {
    /// Opens `path` and checks that it has an image column and the integer
    /// column `label`, compressed in a way this build reads.
    pub fn open(path: &Path, label: &str) -> Result<Self> {
        let file = File::open(path).map_err(|source| ParquetImageError::Open {
            file: path.to_path_buf(),
            source,
        })?;
        let reader =
            SerializedFileReader::new(file).map_err(|source| ParquetImageError::Parquet {
                file: path.to_path_buf(),
                source,
            })?;
        let meta = reader.metadata();
        let fields = meta.file_metadata().schema().get_fields();
        let image = column(path, fields, IMAGE_COLUMN, IMAGE_EXPECTED)?;
        check_image_type(path, image)?;
        let label_type = column(path, fields, label, "an integer class label")?;
        check_label_type(path, label_type)?;
        for group in meta.row_groups() {
            for chunk in group.columns() {
                if !matches!(
                    chunk.compression(),
                    Compression::UNCOMPRESSED | Compression::SNAPPY
                ) {
                    return Err(ParquetImageError::Codec {
                        file: path.to_path_buf(),
                        column: chunk.column_path().string(),
                        codec: chunk.compression().to_string(),
                    });
                }
            }
        }
        let projection = Type::group_type_builder("schema")
            .with_fields(vec![image.clone(), label_type.clone()])
            .build()
            .map_err(|source| ParquetImageError::Parquet {
                file: path.to_path_buf(),
                source,
            })?;
        let class_names = hf_class_names(&reader, label);
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            label: label.to_string(),
            projection,
            class_names,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        usize::try_from(self.reader.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// The label names the file's `huggingface` metadata gives, if any.
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// Calls `each` on every row, in order.
    pub fn for_each(&self, mut each: impl FnMut(Record) -> Result<()>) -> Result<()> {
        // Rows are read in small batches: each holds a whole encoded image.
        let rows = self
            .reader
            .get_row_iter(Some(self.projection.clone()))
            .map_err(|source| self.parquet_error(source))?
            .with_batch_size(64);
        for (row, fields) in rows.enumerate() {
            let fields = fields.map_err(|source| self.parquet_error(source))?;
            let mut bytes = None;
            let mut label = None;
            for (name, field) in fields.get_column_iter() {
                if name == IMAGE_COLUMN {
                    bytes = Some(self.image_bytes(row, field)?);
                } else if *name == self.label {
                    label = Some(self.label_value(row, field)?);
                }
            }
            let missing = |column: &str| self.value_error(row, column, "missing from the row");
            each(Record {
                row,
                bytes: bytes.ok_or_else(|| missing(IMAGE_COLUMN))?,
                label: label.ok_or_else(|| missing(&self.label))?,
            })?;
        }
        Ok(())
    }

    fn image_bytes(&self, row: usize, field: &Field) -> Result<Vec<u8>> {
        let Field::Group(image) = field else {
            return Err(self.value_error(row, IMAGE_COLUMN, "null: expected an image"));
        };
        match image.get_column_iter().find(|(name, _)| *name == "bytes") {
            Some((_, Field::Bytes(bytes))) => Ok(bytes.data().to_vec()),
            _ => Err(self.value_error(
                row,
                IMAGE_COLUMN,
                "holds no image bytes (only a path to a file elsewhere)",
            )),
        }
    }

    fn label_value(&self, row: usize, field: &Field) -> Result<u32> {
        let value: Option<i128> = match field {
            Field::Byte(v) => Some((*v).into()),
            Field::Short(v) => Some((*v).into()),
            Field::Int(v) => Some((*v).into()),
            Field::Long(v) => Some((*v).into()),
            Field::UByte(v) => Some((*v).into()),
            Field::UShort(v) => Some((*v).into()),
            Field::UInt(v) => Some((*v).into()),
            Field::ULong(v) => Some((*v).into()),
            _ => None,
        };
        match value.map(u32::try_from) {
            Some(Ok(label)) => Ok(label),
            Some(Err(_)) => Err(self.value_error(
                row,
                &self.label,
                &format!("label {field} is out of range: expected 0 or more (-1 marks an unlabelled row)"),
            )),
            None => Err(self.value_error(
                row,
                &self.label,
                &format!("{field}: expected an integer label"),
            )),
        }
    }

    fn parquet_error(&self, source: parquet::errors::ParquetError) -> ParquetImageError {
        ParquetImageError::Parquet {
            file: self.path.clone(),
            source,
        }
    }

    fn value_error(&self, row: usize, column: &str, problem: &str) -> ParquetImageError {
        ParquetImageError::Value {
            file: self.path.clone(),
            row,
            column: column.to_string(),
            problem: problem.to_string(),
        }
    }

    fn decode(&self, record: &Record) -> Result<image::DynamicImage> {
        image::load_from_memory(&record.bytes).map_err(|source| ParquetImageError::Image {
            file: self.path.clone(),
            row: record.row,
            column: IMAGE_COLUMN,
            source,
        })
    }
}

fn column<'a>(
    path: &Path,
    fields: &'a [TypePtr],
    name: &str,
    expected: &'static str,
) -> Result<&'a TypePtr> {
    fields.iter().find(|f| f.name() == name).ok_or_else(|| {
        let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name())).collect();
        ParquetImageError::MissingColumn {
            file: path.to_path_buf(),
            column: name.to_string(),
            expected,
            found: if names.is_empty() {
                "no columns".into()
            } else {
                format!("the columns {}", names.join(", "))
            },
        }
    })
}

fn describe(t: &Type) -> String {
    if t.is_group() {
        let names: Vec<&str> = t.get_fields().iter().map(|f| f.name()).collect();
        format!("a struct {{{}}}", names.join(", "))
    } else {
        format!("a {:?} column", t.get_physical_type())
    }
}

fn check_image_type(path: &Path, image: &Type) -> Result<()> {
    let bytes_ok = image.is_group()
        && image.get_fields().iter().any(|f| {
            f.name() == "bytes"
                && f.is_primitive()
                && f.get_physical_type() == PhysicalType::BYTE_ARRAY
        });
    if bytes_ok {
        Ok(())
    } else {
        Err(ParquetImageError::ColumnType {
            file: path.to_path_buf(),
            column: IMAGE_COLUMN.into(),
            found: describe(image),
            expected: IMAGE_EXPECTED,
        })
    }
}

fn check_label_type(path: &Path, label: &Type) -> Result<()> {
    let integer = label.is_primitive()
        && matches!(
            label.get_physical_type(),
            PhysicalType::INT32 | PhysicalType::INT64
        );
    if integer {
        Ok(())
    } else {
        Err(ParquetImageError::ColumnType {
            file: path.to_path_buf(),
            column: label.name().into(),
            found: describe(label),
            expected: "an integer class label (int32 or int64)",
        })
    }
}

/// The `ClassLabel` names of column `label` in the file's `huggingface`
/// metadata: `{"info": {"features": {"<label>": {"names": [...]}}}}`.
fn hf_class_names(reader: &SerializedFileReader<File>, label: &str) -> Option<Vec<String>> {
    let json = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == "huggingface")?
        .value
        .as_deref()?;
    let meta: serde_json::Value = serde_json::from_str(json).ok()?;
    let names = meta["info"]["features"][label]["names"].as_array()?;
    names
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// A progress bar over `total` rows, drawn only on a terminal.
fn rows_bar(total: usize, what: &'static str) -> indicatif::ProgressBar {
    if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total as u64).with_message(what)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

fn open_all(files: &[(Split, PathBuf)], label: &str) -> Result<Vec<(Split, ImageTable)>> {
    files
        .iter()
        .map(|(split, path)| Ok((*split, ImageTable::open(path, label)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parquet_fixture::{noise, parquet, png, Labels};

    fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn error_text(result: Result<impl std::fmt::Debug>) -> String {
        result.unwrap_err().to_string()
    }

    /// A file written by Hugging Face `datasets` 5.2 with pyarrow 26 (see
    /// testdata/make_hf_sample.py): image bytes uncompressed, the label
    /// column Snappy and dictionary encoded, label names in the metadata.
    fn hf_sample() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata/hf_datasets_sample.parquet")
    }

    #[test]
    fn a_file_written_by_hf_datasets_converts_to_idx_and_to_a_folder() {
        let table = ImageTable::open(&hf_sample(), "label").unwrap();
        assert_eq!(table.len(), 12);
        let names: Vec<&str> = table
            .class_names()
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(names, ["zero", "one", "two"]);

        let out = tempfile::tempdir().unwrap();
        let files = [(Split::Train, hf_sample()), (Split::Test, hf_sample())];
        assert_eq!(write_idx(&files, "label", out.path()).unwrap(), [12, 12]);
        let splits = forger_data::idx::load_dir(out.path()).unwrap();
        for i in 0..12 {
            let want: Vec<u8> = (0..28 * 28)
                .map(|p| ((31 * i + 7 * (p % 28) + 3 * (p / 28)) % 256) as u8)
                .collect();
            assert_eq!(splits.train.image(i), want.as_slice(), "image {i}");
            assert_eq!(splits.test.labels()[i], (i % 3) as u32);
        }

        let folder = tempfile::tempdir().unwrap();
        let one_split = &files[..1];
        assert_eq!(
            write_folder(one_split, "label", &[], folder.path()).unwrap(),
            12
        );
        let index = forger_data::image_folder::FolderIndex::discover(folder.path()).unwrap();
        assert_eq!(index.classes(), &["one", "two", "zero"]);
        assert!(folder.path().join("two/000005.png").is_file());
    }

    #[test]
    fn the_schema_is_checked_when_a_file_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let images = [png(2, 2, &[0, 1, 2, 3])];
        let text = write(
            dir.path(),
            "text.parquet",
            parquet(
                &images,
                Labels::Text(&["cat"]),
                "label",
                None,
                Compression::SNAPPY,
            ),
        );
        let message = error_text(ImageTable::open(&text, "label").map(|_| ()));
        assert!(
            message.contains("text.parquet")
                && message.contains("column `label` is a BYTE_ARRAY column")
                && message.contains("integer class label"),
            "{message}"
        );
        let not_parquet = write(dir.path(), "junk.parquet", b"PAR1 but not really".to_vec());
        let message = error_text(ImageTable::open(&not_parquet, "label").map(|_| ()));
        assert!(
            message.contains("junk.parquet: not a readable parquet file"),
            "{message}"
        );
    }

    #[test]
    fn bad_rows_are_errors_naming_the_file_the_row_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let good = png(4, 4, &noise(1, 16));
        let undecodable = write(
            dir.path(),
            "undecodable.parquet",
            parquet(
                &[good.clone(), b"\x89PNG but truncated".to_vec()],
                Labels::Int(&[0, 1]),
                "label",
                None,
                Compression::UNCOMPRESSED,
            ),
        );
        let message = error_text(write_folder(
            &[(Split::Train, undecodable)],
            "label",
            &["a", "b"],
            out.path(),
        ));
        assert!(
            message.contains("undecodable.parquet: row 1, column `image`: cannot decode"),
            "{message}"
        );

        let unknown_class = write(
            dir.path(),
            "classes.parquet",
            parquet(
                &[good.clone(), good.clone()],
                Labels::Int(&[1, 2]),
                "labels",
                Some(&["cat", "dog"]),
                Compression::SNAPPY,
            ),
        );
        let message = error_text(write_folder(
            &[(Split::Train, unknown_class)],
            "labels",
            &[],
            out.path(),
        ));
        assert!(
            message.contains("classes.parquet: row 1, column `labels`: label 2 is out of range")
                && message.contains("cat, dog"),
            "{message}"
        );

        let sizes = write(
            dir.path(),
            "sizes.parquet",
            parquet(
                &[good, png(3, 4, &noise(2, 12))],
                Labels::Int(&[0, 1]),
                "label",
                None,
                Compression::SNAPPY,
            ),
        );
        let message = error_text(write_idx(&[(Split::Train, sizes)], "label", out.path()));
        assert!(
            message.contains("sizes.parquet: row 1, column `image`: image is 3x4")
                && message.contains("expected 4x4"),
            "{message}"
        );
    }
}

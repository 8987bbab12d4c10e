//! Test data: small images, and parquet files of them with the schema
//! Hugging Face `datasets` writes (`image {bytes, path}`, an integer label,
//! label names in the `huggingface` metadata).

use std::io::Cursor;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// Deterministic noise (it does not compress, so files are not tiny).
pub fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// A grey `width x height` image as PNG.
pub fn png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    encode(width, height, pixels, image::ImageFormat::Png)
}

/// A grey `width x height` image as JPEG.
pub fn jpeg(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    encode(width, height, pixels, image::ImageFormat::Jpeg)
}

fn encode(width: u32, height: u32, pixels: &[u8], format: image::ImageFormat) -> Vec<u8> {
    let image = image::GrayImage::from_raw(width, height, pixels.to_vec()).unwrap();
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// The label column's values.
pub enum Labels<'a> {
    /// An int64 column, as `datasets` writes a `ClassLabel`.
    Int(&'a [i64]),
    /// A string column (not what forger takes).
    Text(&'a [&'a str]),
}

/// A parquet file of `images` and `labels` in column `label_column`, in row
/// groups of 5 rows, with `names` as the label names in the metadata.
pub fn parquet(
    images: &[Vec<u8>],
    labels: Labels,
    label_column: &str,
    names: Option<&[&str]>,
    compression: Compression,
) -> Vec<u8> {
    let label_type = match labels {
        Labels::Int(_) => "int64",
        Labels::Text(_) => "binary",
    };
    let annotation = if matches!(labels, Labels::Text(_)) {
        " (STRING)"
    } else {
        ""
    };
    let schema = format!(
        "message schema {{ optional group image {{ optional binary bytes; \
         optional binary path (STRING); }} optional {label_type} {label_column}{annotation}; }}"
    );
    let mut props = WriterProperties::builder().set_compression(compression);
    if let Some(names) = names {
        let mut features = serde_json::Map::new();
        features.insert("image".into(), serde_json::json!({"_type": "Image"}));
        features.insert(
            label_column.into(),
            serde_json::json!({"names": names, "_type": "ClassLabel"}),
        );
        let meta = serde_json::json!({"info": {"features": features}});
        props = props.set_key_value_metadata(Some(vec![KeyValue::new(
            "huggingface".into(),
            meta.to_string(),
        )]));
    }
    let schema = Arc::new(parse_message_type(&schema).unwrap());
    let mut writer =
        SerializedFileWriter::new(Vec::new(), schema, Arc::new(props.build())).unwrap();
    for start in (0..images.len()).step_by(5) {
        let end = (start + 5).min(images.len());
        let n = end - start;
        let mut group = writer.next_row_group().unwrap();
        // image.bytes, present in every row (definition level 2).
        let mut column = group.next_column().unwrap().unwrap();
        let bytes: Vec<ByteArray> = images[start..end]
            .iter()
            .map(|b| ByteArray::from(b.clone()))
            .collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&bytes, Some(&vec![2; n]), None)
            .unwrap();
        column.close().unwrap();
        // image.path, null in every row (definition level 1).
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<ByteArrayType>()
            .write_batch(&[], Some(&vec![1; n]), None)
            .unwrap();
        column.close().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        match labels {
            Labels::Int(values) => column.typed::<Int64Type>().write_batch(
                &values[start..end],
                Some(&vec![1; n]),
                None,
            ),
            Labels::Text(values) => {
                let text: Vec<ByteArray> = values[start..end]
                    .iter()
                    .map(|s| ByteArray::from(*s))
                    .collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&text, Some(&vec![1; n]), None)
            }
        }
        .unwrap();
        column.close().unwrap();
        group.close().unwrap();
    }
    writer.into_inner().unwrap()
}

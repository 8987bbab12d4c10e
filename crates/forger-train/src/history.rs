//! The training history as `history.csv`: one writer for every kind of
//! row. A row is any flat struct that derives `Serialize`; its fields are
//! the columns, in order, and [`Record::decimals`] says how many decimals
//! each float column gets. `None` is an empty cell.

use std::fmt::Write as _;
use std::path::Path;

use serde::ser::{self, Impossible};
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::{Result, TrainError};

/// A history row: a flat struct of integers, floats, optional floats and strings.
pub trait Record: Serialize {
    /// Decimals written for the float column `column`.
    fn decimals(column: &str) -> usize;
}

/// One row of a classifier's `history.csv`. `loss` and `accuracy` are means
/// over the training batches since the previous row; `val_*` are on the
/// evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub step: u64,
    pub epoch: f64,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// ROC AUC on the evaluation set, for two classes.
    pub val_auc: Option<f64>,
    /// Training time so far, evaluation excluded.
    pub seconds: f64,
}

impl Record for HistoryRow {
    fn decimals(column: &str) -> usize {
        match column {
            "epoch" => 4,
            "seconds" => 3,
            _ => 6,
        }
    }
}

/// Writes `rows` as CSV with a header, atomically.
pub fn write_csv<R: Record>(path: &Path, rows: &[R]) -> Result<()> {
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells = match row.serialize(CellValue) {
            Ok(Cell::Row(cells)) => Ok(cells),
            Ok(_) => not_flat("a bare value"),
            Err(e) => Err(e),
        }
        .map_err(|e| TrainError::file(path, format!("history row {i}: {e}")))?;
        if i == 0 {
            let names: Vec<&str> = cells.iter().map(|(name, _)| *name).collect();
            let _ = writeln!(out, "{}", names.join(","));
        }
        let values: Vec<String> = cells
            .iter()
            .map(|(name, cell)| cell.format(R::decimals(name)))
            .collect();
        let _ = writeln!(out, "{}", values.join(","));
    }
    Ok(write_atomic(path, out.as_bytes())?)
}

/// One cell of a row, or (`Row`) a whole row.
enum Cell {
    Int(i128),
    Float(f64),
    Text(String),
    Empty,
    Row(Vec<(&'static str, Cell)>),
}

impl Cell {
    fn format(&self, decimals: usize) -> String {
        match self {
            Self::Int(v) => v.to_string(),
            Self::Float(v) => format!("{v:.decimals$}"),
            Self::Text(s) => s.clone(),
            Self::Empty | Self::Row(_) => String::new(),
        }
    }
}

/// Why a row could not be written: it is not a flat struct.
#[derive(Debug)]
struct NotFlat(String);

impl std::fmt::Display for NotFlat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFlat {}

impl ser::Error for NotFlat {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

fn not_flat<T>(what: &str) -> std::result::Result<T, NotFlat> {
    Err(NotFlat(format!(
        "a history row holds only numbers and text, not {what}"
    )))
}

/// Methods turning a number into a cell of kind `$kind`.
macro_rules! cells {
    ($kind:ident: $($name:ident: $t:ty),*) => {
        $(fn $name(self, v: $t) -> std::result::Result<Cell, NotFlat> {
            Ok(Cell::$kind(v.into()))
        })*
    };
}

/// A struct's fields as they are serialized, in order.
struct Fields(Vec<(&'static str, Cell)>);

impl ser::SerializeStruct for Fields {
    type Ok = Cell;
    type Error = NotFlat;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> std::result::Result<(), NotFlat> {
        match value.serialize(CellValue)? {
            Cell::Row(_) => not_flat("a nested struct"),
            cell => {
                self.0.push((key, cell));
                Ok(())
            }
        }
    }

    fn end(self) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Row(self.0))
    }
}

/// Serializes a row into [`Cell::Row`], and each of its fields into a cell.
struct CellValue;

impl ser::Serializer for CellValue {
    type Ok = Cell;
    type Error = NotFlat;
    type SerializeSeq = Impossible<Cell, NotFlat>;
    type SerializeTuple = Impossible<Cell, NotFlat>;
    type SerializeTupleStruct = Impossible<Cell, NotFlat>;
    type SerializeTupleVariant = Impossible<Cell, NotFlat>;
    type SerializeMap = Impossible<Cell, NotFlat>;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Impossible<Cell, NotFlat>;

    fn serialize_bool(self, v: bool) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Text(v.to_string()))
    }
    cells!(Int: serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);
    cells!(Int: serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    cells!(Float: serialize_f32: f32, serialize_f64: f64);
    fn serialize_char(self, v: char) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> std::result::Result<Cell, NotFlat> {
        not_flat("bytes")
    }
    fn serialize_none(self) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Empty)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> std::result::Result<Cell, NotFlat> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Empty)
    }
    fn serialize_unit_struct(self, _: &'static str) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Empty)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> std::result::Result<Cell, NotFlat> {
        Ok(Cell::Text(variant.to_string()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        v: &T,
    ) -> std::result::Result<Cell, NotFlat> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> std::result::Result<Cell, NotFlat> {
        not_flat("an enum with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Self::SerializeSeq, NotFlat> {
        not_flat("a list")
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self::SerializeTuple, NotFlat> {
        not_flat("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleStruct, NotFlat> {
        not_flat("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, NotFlat> {
        not_flat("an enum with data")
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self::SerializeMap, NotFlat> {
        not_flat("a map")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        fields: usize,
    ) -> std::result::Result<Fields, NotFlat> {
        Ok(Fields(Vec::with_capacity(fields)))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, NotFlat> {
        not_flat("an enum with data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_a_header_and_fixed_decimals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.csv");
        let row = |step, auc| HistoryRow {
            step,
            epoch: 0.5,
            loss: 1.0 / 3.0,
            accuracy: 0.75,
            val_loss: 2.0,
            val_accuracy: 0.5,
            val_auc: auc,
            seconds: 1.23456,
        };
        write_csv(&path, &[row(10, Some(0.9)), row(20, None)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "step,epoch,loss,accuracy,val_loss,val_accuracy,val_auc,seconds\n\
             10,0.5000,0.333333,0.750000,2.000000,0.500000,0.900000,1.235\n\
             20,0.5000,0.333333,0.750000,2.000000,0.500000,,1.235\n"
        );
    }

    #[test]
    fn nested_rows_are_refused_with_the_row_named() {
        #[derive(Serialize)]
        struct Nested {
            step: u64,
            parts: Vec<f64>,
        }
        impl Record for Nested {
            fn decimals(_: &str) -> usize {
                2
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        let err = write_csv(
            &path,
            &[Nested {
                step: 1,
                parts: vec![1.0],
            }],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("history row 0") && err.contains("a list"),
            "{err}"
        );
        assert!(!path.exists());
    }
}

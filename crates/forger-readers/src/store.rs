//! The study's SQLite database (WAL mode, every commit synced): its cases,
//! its readers and their answers. Nothing is held in memory that is not
//! also on disk, so a killed server loses no submitted answer.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use forger_teach::Truth;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::cases::Case;
use crate::{ReadersError, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY,
    image TEXT NOT NULL,
    class TEXT NOT NULL,
    truth TEXT NOT NULL CHECK (truth IN ('real', 'synthetic')),
    png BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS readers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    level TEXT NOT NULL CHECK (level IN ('student', 'resident', 'radiologist', 'other')),
    session TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    reader INTEGER NOT NULL REFERENCES readers (id),
    case_id INTEGER NOT NULL REFERENCES cases (id),
    answer TEXT NOT NULL CHECK (answer IN ('real', 'synthetic')),
    confidence INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 5),
    note TEXT NOT NULL,
    answered_ms INTEGER NOT NULL,
    PRIMARY KEY (reader, case_id)
);
";

/// A reader's experience level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Student,
    Resident,
    Radiologist,
    Other,
}

impl Level {
    /// Every level, in the order pages list them.
    pub const ALL: [Level; 4] = [
        Level::Student,
        Level::Resident,
        Level::Radiologist,
        Level::Other,
    ];

    /// The level's word, as stored and as pages send it.
    pub fn word(self) -> &'static str {
        match self {
            Level::Student => "student",
            Level::Resident => "resident",
            Level::Radiologist => "radiologist",
            Level::Other => "other",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.word() == word)
    }
}

/// A reader who has signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The reader's number; it seeds their case order.
    pub id: i64,
    pub name: String,
    pub level: Level,
    /// The secret that the reader's browser keeps to resume.
    pub session: String,
}

/// One reader's answer to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub case: u32,
    pub answer: Truth,
    /// 1 (definitely real) to 5 (definitely synthetic).
    pub confidence: u8,
    /// What gave it away, in the reader's words (may be empty).
    pub note: String,
}

/// An answer as the results show it: who, which case and its truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerRow {
    pub reader: String,
    pub level: Level,
    pub case: u32,
    pub class: String,
    pub truth: Truth,
    pub answer: Truth,
    pub confidence: u8,
    pub note: String,
    /// When it was recorded, ISO 8601 UTC.
    pub time: String,
}

/// Why an answer was not recorded.
#[derive(Debug)]
pub enum RecordError {
    /// The reader has answered that case already.
    Duplicate,
    /// The database failed.
    Store(ReadersError),
}

/// The study database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn truth_from(word: &str) -> rusqlite::Result<Truth> {
    match word {
        "real" => Ok(Truth::Real),
        "synthetic" => Ok(Truth::Synthetic),
        other => Err(rusqlite::Error::InvalidColumnType(
            0,
            other.to_string(),
            rusqlite::types::Type::Text,
        )),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (creating if needed) the study database at `path`, in WAL mode
    /// with every commit synced to disk.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|source| ReadersError::Sqlite {
            db: path.to_path_buf(),
            source,
        })?;
        let store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| store.conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| store.conn.pragma_update(None, "foreign_keys", "ON"))
            .and_then(|()| store.conn.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| store.conn.execute_batch(SCHEMA))
            .map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Opens the database at `db` for the teaching site in `site_dir`: a new
    /// database gets the site's cases; an old one must hold the same.
    pub fn open_for_site(db: &Path, site_dir: &Path) -> Result<Self> {
        let cases = crate::cases::read_site(site_dir)?;
        let mut store = Self::open(db)?;
        store.add_cases(&cases)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> ReadersError {
        ReadersError::Sqlite {
            db: self.path.clone(),
            source,
        }
    }

    /// Puts `cases` in a new database, or checks that an existing one holds
    /// the same cases (same images, classes and truths).
    pub fn add_cases(&mut self, cases: &[Case]) -> Result<()> {
        let stored = self.cases()?;
        if stored.is_empty() {
            let tx = self.conn.transaction().map_err(|e| ReadersError::Sqlite {
                db: self.path.clone(),
                source: e,
            })?;
            for c in cases {
                tx.execute(
                    "INSERT INTO cases (id, image, class, truth, png) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![c.id, c.image, c.class, c.truth.word(), c.png],
                )
                .map_err(|e| ReadersError::Sqlite {
                    db: self.path.clone(),
                    source: e,
                })?;
            }
            return tx.commit().map_err(|e| self.err(e));
        }
        let differ = |what: String| ReadersError::OtherStudy {
            db: self.path.clone(),
            what,
        };
        if stored.len() != cases.len() {
            return Err(differ(format!(
                "{} cases, the site has {}",
                stored.len(),
                cases.len()
            )));
        }
        for (s, c) in stored.iter().zip(cases) {
            if (s.id, &s.image, &s.class, s.truth, &s.png)
                != (c.id, &c.image, &c.class, c.truth, &c.png)
            {
                return Err(differ(format!(
                    "case {} differs from the site's {}",
                    s.id, c.image
                )));
            }
        }
        Ok(())
    }

    /// The study's cases, by id.
    pub fn cases(&self) -> Result<Vec<Case>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, image, class, truth, png FROM cases ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    truth_from(&r.get::<_, String>(3)?)?,
                    r.get(4)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(
                |(id, image, class, truth, png): (u32, String, String, Truth, Vec<u8>)| {
                    Case::new(id, image.clone(), class, truth, png).map_err(|what| {
                        ReadersError::BadCase {
                            site: self.path.clone(),
                            case: id as usize,
                            image,
                            what,
                        }
                    })
                },
            )
            .collect()
    }

    /// Signs a reader in: a new reader gets `new_session` as their secret;
    /// a name already signed in gets that reader back (with their first
    /// level and secret), so that they resume.
    pub fn sign_in(&mut self, name: &str, level: Level, new_session: &str) -> Result<Reader> {
        self.conn
            .execute(
                "INSERT INTO readers (name, level, session, created_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![name, level.word(), new_session, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        self.reader_where("name = ?1", name)?
            .ok_or_else(|| self.err(rusqlite::Error::QueryReturnedNoRows))
    }

    /// The reader whose secret is `session`, if any.
    pub fn reader_by_session(&self, session: &str) -> Result<Option<Reader>> {
        self.reader_where("session = ?1", session)
    }

    fn reader_where(&self, condition: &str, value: &str) -> Result<Option<Reader>> {
        self.conn
            .query_row(
                &format!("SELECT id, name, level, session FROM readers WHERE {condition}"),
                [value],
                |r| {
                    let level: String = r.get(2)?;
                    Ok(Reader {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        level: Level::from_word(&level).unwrap_or(Level::Other),
                        session: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The cases `reader` has answered and whether each answer was right.
    pub fn answered(&self, reader: i64) -> Result<Vec<(u32, bool)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.case_id, a.answer = c.truth FROM answers a JOIN cases c ON c.id = a.case_id
                 WHERE a.reader = ?1",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([reader], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// Records `answer` of `reader`, synced to disk before this returns.
    pub fn record(&mut self, reader: i64, answer: &Answer) -> std::result::Result<(), RecordError> {
        let inserted = self
            .conn
            .execute(
                "INSERT INTO answers (reader, case_id, answer, confidence, note, answered_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    reader,
                    answer.case,
                    answer.answer.word(),
                    answer.confidence,
                    answer.note,
                    now_ms()
                ],
            )
            .map_err(|e| RecordError::Store(self.err(e)))?;
        if inserted == 0 {
            Err(RecordError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Every answer, by reader sign-in order and then answer order.
    pub fn answers(&self) -> Result<Vec<AnswerRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.name, r.level, a.case_id, c.class, c.truth, a.answer, a.confidence, a.note,
                        strftime('%Y-%m-%dT%H:%M:%fZ', a.answered_ms / 1000.0, 'unixepoch')
                 FROM answers a JOIN readers r ON r.id = a.reader JOIN cases c ON c.id = a.case_id
                 ORDER BY r.id, a.answered_ms, a.case_id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            let level: String = r.get(1)?;
            Ok(AnswerRow {
                reader: r.get(0)?,
                level: Level::from_word(&level).unwrap_or(Level::Other),
                case: r.get(2)?,
                class: r.get(3)?,
                truth: truth_from(&r.get::<_, String>(4)?)?,
                answer: truth_from(&r.get::<_, String>(5)?)?,
                confidence: r.get(6)?,
                note: r.get(7)?,
                time: r.get(8)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// The readers, in sign-in order, with their levels (those without answers too).
    pub fn readers(&self) -> Result<Vec<(String, Level)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, level FROM readers ORDER BY id")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            let level: String = r.get(1)?;
            Ok((r.get(0)?, Level::from_word(&level).unwrap_or(Level::Other)))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }
}

//! The educator's results: the answers as CSV, the summary as JSON and as
//! an HTML report with the most misjudged cases' images, both served behind
//! the token and written by [`write_results`].

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use forger_teach::escape_html as esc;

use crate::stats::{summarize, CaseScores, Scores, Summary};
use crate::store::{AnswerRow, Store};
use crate::{ReadersError, Result};

/// The study's results from its database.
pub fn summarize_store(store: &Store) -> Result<Summary> {
    let cases = store.cases()?;
    if cases.is_empty() {
        return Err(ReadersError::NoStudy {
            db: store.path().to_path_buf(),
        });
    }
    Ok(summarize(&cases, &store.readers()?, &store.answers()?))
}

/// One CSV field: quoted when it holds a comma, quote or line break, and
/// with a leading `'` when a spreadsheet would take it for a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `answers.csv`: a header and one row per answer.
pub fn answers_csv(rows: &[AnswerRow]) -> String {
    let mut out =
        String::from("reader,level,case,class,truth,answer,confidence,correct,note,time\n");
    for r in rows {
        let fields = [
            csv_field(&r.reader),
            r.level.word().to_string(),
            r.case.to_string(),
            csv_field(&r.class),
            r.truth.word().to_string(),
            r.answer.word().to_string(),
            r.confidence.to_string(),
            u8::from(r.truth == r.answer).to_string(),
            csv_field(&r.note),
            r.time.clone(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn number(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), |x| format!("{x:.3}"))
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// Table cells of a set of scores (answered, accuracy, p, sensitivity,
/// specificity, AUC), each with a `data-stat` attribute for machines.
fn score_cells(s: &Scores) -> String {
    format!(
        r#"<td data-stat="answered">{}</td><td data-stat="accuracy">{}</td><td data-stat="p_value">{}</td><td data-stat="sensitivity">{}</td><td data-stat="specificity">{}</td><td data-stat="auc">{}</td>"#,
        s.answered,
        number(s.accuracy),
        p_value(s.p_value),
        number(s.sensitivity),
        number(s.specificity),
        number(s.auc)
    )
}

const SCORE_HEADS: &str = "<th>answers</th><th>accuracy</th><th>p (vs 50%)</th><th>sensitivity</th><th>specificity</th><th>ROC AUC</th>";

/// The results page: `stylesheet` is its CSS's URL, `image_url` gives each
/// misjudged case's image URL. Everything shown is escaped.
pub fn results_html(
    summary: &Summary,
    stylesheet: &str,
    image_url: impl Fn(&CaseScores) -> String,
) -> String {
    let o = &summary.overall;
    let mut main = format!(
        r#"<h1>Reader study: results</h1>
<p>{readers} readers, {answers} answers on {cases} cases. Sensitivity and specificity are for "synthetic"; ROC AUC from the 5-point ratings (1 definitely real, 5 definitely synthetic), ties counted half; p is the exact two-sided binomial test of the accuracy against 50%.</p>
<table id="overall"><tr><th></th>{SCORE_HEADS}<th>Fleiss' kappa</th></tr>
<tr id="pooled"><th>all readers (pooled)</th>{cells}<td data-stat="fleiss_kappa">{kappa}</td></tr>
"#,
        readers = o.readers,
        answers = o.scores.answered,
        cases = summary.cases,
        cells = score_cells(&o.scores),
        kappa = number(o.fleiss_kappa),
    );
    for g in &summary.groups {
        let _ = writeln!(
            main,
            r#"<tr data-level="{level}"><th>{level} ({n} readers)</th>{cells}<td data-stat="fleiss_kappa">{kappa}</td></tr>"#,
            level = g.level.word(),
            n = g.readers,
            cells = score_cells(&g.scores),
            kappa = number(g.fleiss_kappa)
        );
    }
    let _ = write!(main, "</table>\n<h2>Readers</h2>\n<table id=\"readers\"><tr><th>reader</th><th>level</th>{SCORE_HEADS}</tr>\n");
    for r in &summary.readers {
        let _ = writeln!(
            main,
            r#"<tr data-reader="{name}"><th>{name}</th><td>{level}</td>{cells}</tr>"#,
            name = esc(&r.reader),
            level = r.level.word(),
            cells = score_cells(&r.scores)
        );
    }
    main.push_str("</table>\n<h2>Most often misjudged</h2>\n");
    if summary.misjudged.is_empty() {
        main.push_str("<p>No case was misjudged.</p>\n");
    }
    main.push_str("<div class=\"misjudged\">\n");
    for c in &summary.misjudged {
        let notes: String = c
            .notes
            .iter()
            .map(|n| format!("<li>{}</li>", esc(n)))
            .collect();
        let _ = writeln!(
            main,
            r#"<figure data-case="{id}"><img src="{src}" alt="case {id}"><figcaption>case {id}: {truth} {class}, wrong {wrong} of {answered}<ul>{notes}</ul></figcaption></figure>"#,
            id = c.case,
            src = esc(&image_url(c)),
            truth = c.truth.word(),
            class = esc(&c.class),
            wrong = c.wrong,
            answered = c.answered,
        );
    }
    main.push_str("</div>\n");
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reader study results · forger</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<main id="main">
{main}</main>
</body>
</html>
"#,
        css = esc(stylesheet)
    )
}

/// Writes the study's results into `out`: `answers.csv`, `summary.json`,
/// and `report.html` with its stylesheet and the misjudged cases' images.
pub fn write_results(store: &Store, out: &Path) -> Result<Summary> {
    let summary = summarize_store(store)?;
    let cases = store.cases()?;
    let write = |file: &str, bytes: &[u8]| {
        let path = out.join(file);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| ReadersError::io(dir.display(), e))?;
        }
        fs::write(&path, bytes).map_err(|e| ReadersError::io(path.display(), e))
    };
    write("answers.csv", answers_csv(&store.answers()?).as_bytes())?;
    write(
        "summary.json",
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    for c in &summary.misjudged {
        if let Some(case) = cases.iter().find(|k| k.id == c.case) {
            write(&format!("cases/{:03}.png", c.case), &case.png)?;
        }
    }
    write("reader.css", crate::pages::READER_CSS.as_bytes())?;
    let html = results_html(&summary, "reader.css", |c| {
        format!("cases/{:03}.png", c.case)
    });
    write("report.html", html.as_bytes())?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}

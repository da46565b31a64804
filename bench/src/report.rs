//! What a command prints: a table (figure, goal, measured, reference, ratio,
//! verdict), free-form notes, then one JSON line with every number.

use serde_json::{Map, Value, json};

/// Whether a figure met its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// Context only: no goal applies.
    Info,
}

impl Verdict {
    pub fn of(met: bool) -> Verdict {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::Info => "-",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub goal: String,
    pub measured: String,
    /// What `ratio` divides by, measured in the same run.
    pub reference: String,
    pub ratio: Option<f64>,
    pub verdict: Verdict,
}

/// The result of one command.
#[derive(Debug)]
pub struct Report {
    command: &'static str,
    rows: Vec<Row>,
    notes: Vec<String>,
    data: Map<String, Value>,
}

impl Report {
    pub fn new(command: &'static str) -> Report {
        Report {
            command,
            rows: Vec::new(),
            notes: Vec::new(),
            data: Map::new(),
        }
    }

    /// Adds a table row; its numbers also go into the JSON line under `key`.
    pub fn row(&mut self, key: &str, row: Row, value: Value) {
        let mut entry =
            json!({"measured": value, "goal": row.goal, "verdict": row.verdict.as_str()});
        if let Some(ratio) = row.ratio {
            entry["ratio"] = json!(round(ratio, 4));
        }
        self.data.insert(key.to_owned(), entry);
        self.rows.push(row);
    }

    /// A number or object for the JSON line only.
    pub fn value(&mut self, key: &str, value: Value) {
        self.data.insert(key.to_owned(), value);
    }

    /// A sentence printed under the table (setup, caveats).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn print(&self) {
        let header = [
            "figure",
            "goal",
            "measured",
            "reference (same run)",
            "ratio",
            "verdict",
        ];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.clone(),
                    r.goal.clone(),
                    r.measured.clone(),
                    r.reference.clone(),
                    r.ratio
                        .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}")),
                    r.verdict.as_str().to_owned(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for line in &cells {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let print_line = |line: &[String]| {
            let text: Vec<String> = line
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            println!("| {} |", text.join(" | "));
        };
        println!("recalld-bench {}", self.command);
        print_line(&header.map(str::to_owned));
        println!("|{}|", widths.map(|w| "-".repeat(w + 2)).join("|"));
        for line in &cells {
            print_line(line);
        }
        for note in &self.notes {
            println!("  - {note}");
        }
        let mut data = self.data.clone();
        data.insert("bench".into(), json!(self.command));
        println!("{}", Value::Object(data));
    }
}

/// `x` with `digits` decimals, for the JSON line.
pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// The median of `values` (sorted in place); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

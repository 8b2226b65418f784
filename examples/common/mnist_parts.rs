//! MNIST images of `data/mnist_5k.csv.gz` by class, written back out as CSV
//! files with a `part` column (`train` / `valid` / `test`, read by `[split]
//! column = "part"`): what the transfer and distillation examples train on.

use std::fmt::Write as _;
use std::path::Path;

use anneal::data::{CsvOptions, Table};

/// The images: pixel column names, each image's pixels and label.
pub struct Mnist {
    pub names: Vec<String>,
    pub pixels: Vec<Vec<f64>>,
    pub labels: Vec<usize>,
}

impl Mnist {
    /// Reads the bundled file under `root`.
    pub fn read(root: &Path) -> anyhow::Result<Self> {
        let table = Table::read(root.join("data/mnist_5k.csv.gz"), &CsvOptions::default())?;
        let names: Vec<String> = table.column_names().into_iter().filter(|c| c != "label").collect();
        let labels: Vec<usize> = table.numeric("label")?.iter().map(|v| v.unwrap_or(0.0) as usize).collect();
        let columns: Vec<Vec<Option<f64>>> = names.iter().map(|c| table.numeric(c)).collect::<Result<_, _>>()?;
        let pixels = (0..labels.len()).map(|r| columns.iter().map(|c| c[r].unwrap_or(0.0)).collect()).collect();
        Ok(Self { names, pixels, labels })
    }

    /// The rows of class `c`, in a fixed shuffled order.
    pub fn of_class(&self, c: usize) -> Vec<usize> {
        shuffled((0..self.labels.len()).filter(|&r| self.labels[r] == c).collect(), 1000 + c as u64)
    }

    /// Writes the rows `(row, part)` as a CSV with a `part` column.
    pub fn write_csv(&self, path: &Path, rows: &[(usize, &str)]) -> anyhow::Result<()> {
        let mut s = String::new();
        let _ = writeln!(s, "label,{},part", self.names.join(","));
        for &(r, part) in rows {
            let _ = write!(s, "{}", self.labels[r]);
            for p in &self.pixels[r] {
                let _ = write!(s, ",{p}");
            }
            let _ = writeln!(s, ",{part}");
        }
        std::fs::write(path, s)?;
        Ok(())
    }
}

/// A seeded shuffle (Fisher-Yates over SplitMix64 draws).
pub fn shuffled(mut v: Vec<usize>, seed: u64) -> Vec<usize> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..v.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

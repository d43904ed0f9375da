//! Results: the median of each contender's rounds, and its ratio to the baseline.

use std::fmt;

/// One measured quantity for every contender, several rounds each.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What was measured, e.g. "bulk throughput, client to server".
    pub title: String,
    /// The unit of the samples, e.g. "MiB/s".
    pub unit: &'static str,
    /// Each contender's name and samples, the baseline last.
    pub rows: Vec<(String, Vec<f64>)>,
}

impl Comparison {
    /// An empty comparison.
    pub fn new(title: impl Into<String>, unit: &'static str) -> Comparison {
        Comparison {
            title: title.into(),
            unit,
            rows: Vec::new(),
        }
    }

    /// Adds a sample for `name` (rows keep the order of their first sample).
    pub fn add(&mut self, name: &str, sample: f64) {
        match self.rows.iter_mut().find(|(n, _)| n == name) {
            Some((_, samples)) => samples.push(sample),
            None => self.rows.push((name.to_string(), vec![sample])),
        }
    }

    /// Each contender's median, in row order.
    pub fn medians(&self) -> Vec<(String, f64)> {
        self.rows
            .iter()
            .map(|(name, samples)| (name.clone(), median(samples)))
            .collect()
    }

    /// The first contender's median over the last one's (the baseline).
    pub fn ratio(&self) -> Option<f64> {
        let medians = self.medians();
        let (first, last) = (medians.first()?, medians.last()?);
        (medians.len() > 1 && last.1 > 0.0).then(|| first.1 / last.1)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.title)?;
        let medians = self.medians();
        for (name, value) in &medians {
            writeln!(f, "  {name:<24} {value:>10.1} {}", self.unit)?;
        }
        if let (Some(ratio), Some(first), Some(last)) =
            (self.ratio(), medians.first(), medians.last())
        {
            let label = format!("{} / {}", short(&first.0), short(&last.0));
            writeln!(f, "  {label:<24} {ratio:>10.2}")?;
        }
        Ok(())
    }
}

/// "sslfile blocking" → "sslfile".
fn short(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// The median (the mean of the middle two for an even count); 0 for no samples.
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_the_ratio_to_the_last_row() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let mut c = Comparison::new("t", "MiB/s");
        for (a, b) in [(90.0, 100.0), (80.0, 100.0), (95.0, 100.0)] {
            c.add("sslfile blocking", a);
            c.add("rustls StreamOwned", b);
        }
        assert_eq!(c.ratio(), Some(0.9));
        let text = c.to_string();
        assert!(text.contains("sslfile / rustls"), "{text}");
        assert!(text.contains("0.90"), "{text}");
    }
}

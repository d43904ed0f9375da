//! Results: each contender's median over its rounds with the spread (min–max), and the
//! ratio of each contender to each baseline — of the medians, and its spread over the
//! rounds (round i against round i: rounds alternate between contenders, so a round's
//! ratio compares measurements made a moment apart).

use std::fmt;

/// One measured quantity for every contender, several rounds each.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What was measured, e.g. "bulk throughput, client to server".
    pub title: String,
    /// The unit of the samples, e.g. "MiB/s".
    pub unit: &'static str,
    /// Each contender's name and samples, in order of their first sample.
    pub rows: Vec<(String, Vec<f64>)>,
    /// The rows that the others are compared with.
    pub baselines: Vec<String>,
}

impl Comparison {
    /// An empty comparison; rows named in `baselines` are the ones compared with.
    pub fn new(title: impl Into<String>, unit: &'static str, baselines: &[&str]) -> Comparison {
        Comparison {
            title: title.into(),
            unit,
            rows: Vec::new(),
            baselines: baselines.iter().map(|b| b.to_string()).collect(),
        }
    }

    /// Adds a sample for `name` (rows keep the order of their first sample).
    pub fn add(&mut self, name: &str, sample: f64) {
        match self.rows.iter_mut().find(|(n, _)| n == name) {
            Some((_, samples)) => samples.push(sample),
            None => self.rows.push((name.to_string(), vec![sample])),
        }
    }

    fn samples(&self, name: &str) -> Option<&[f64]> {
        self.rows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_slice())
    }

    /// The median of `name`'s samples.
    pub fn median(&self, name: &str) -> Option<f64> {
        self.samples(name).map(median)
    }

    /// `name`'s median over `baseline`'s.
    pub fn ratio(&self, name: &str, baseline: &str) -> Option<f64> {
        let (a, b) = (self.median(name)?, self.median(baseline)?);
        (b > 0.0).then(|| a / b)
    }

    /// The lowest and highest of the per-round ratios of `name` to `baseline`.
    pub fn ratio_spread(&self, name: &str, baseline: &str) -> Option<(f64, f64)> {
        let (a, b) = (self.samples(name)?, self.samples(baseline)?);
        let ratios: Vec<f64> = a
            .iter()
            .zip(b)
            .filter(|(_, b)| **b > 0.0)
            .map(|(a, b)| a / b)
            .collect();
        Some((min(&ratios)?, max(&ratios)?))
    }

    /// Every (contender, baseline) pair to report, contenders in row order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let present: Vec<&String> = self
            .baselines
            .iter()
            .filter(|b| self.samples(b).is_some())
            .collect();
        let mut pairs = Vec::new();
        for (name, _) in &self.rows {
            if self.baselines.contains(name) {
                continue;
            }
            for baseline in &present {
                pairs.push((name.clone(), (*baseline).clone()));
            }
        }
        pairs
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounds = self.rows.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
        writeln!(
            f,
            "{} ({}, median of {rounds} [min-max]):",
            self.title, self.unit
        )?;
        for (name, samples) in &self.rows {
            writeln!(
                f,
                "  {name:<40} {:>10.1}  [{:.1}-{:.1}]",
                median(samples),
                min(samples).unwrap_or(0.0),
                max(samples).unwrap_or(0.0)
            )?;
        }
        for (name, baseline) in self.pairs() {
            if let (Some(ratio), Some((lo, hi))) = (
                self.ratio(&name, &baseline),
                self.ratio_spread(&name, &baseline),
            ) {
                let label = format!("{name} / {baseline}");
                writeln!(f, "  {label:<40} {ratio:>10.2}  [{lo:.2}-{hi:.2}]")?;
            }
        }
        Ok(())
    }
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

fn min(samples: &[f64]) -> Option<f64> {
    samples.iter().copied().min_by(f64::total_cmp)
}

fn max(samples: &[f64]) -> Option<f64> {
    samples.iter().copied().max_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_the_ratios_to_each_baseline() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let mut c = Comparison::new("t", "MiB/s", &["rustls", "tokio"]);
        for (a, b, t) in [
            (90.0, 100.0, 50.0),
            (80.0, 100.0, 40.0),
            (95.0, 100.0, 60.0),
        ] {
            c.add("sslfile blocking", a);
            c.add("rustls", b);
            c.add("tokio", t);
        }
        assert_eq!(c.ratio("sslfile blocking", "rustls"), Some(0.9));
        assert_eq!(c.ratio("sslfile blocking", "tokio"), Some(1.8));
        assert_eq!(
            c.ratio_spread("sslfile blocking", "rustls"),
            Some((0.8, 0.95))
        );
        assert_eq!(
            c.pairs().len(),
            2,
            "baselines are not compared with each other"
        );
        let text = c.to_string();
        assert!(text.contains("sslfile blocking / rustls"), "{text}");
        assert!(text.contains("0.90  [0.80-0.95]"), "{text}");
        assert!(text.contains("1.80  [1.58-2.00]"), "{text}");
    }

    #[test]
    fn a_missing_baseline_is_left_out() {
        let mut c = Comparison::new("t", "/s", &["rustls", "tokio"]);
        c.add("sslfile", 1.0);
        c.add("rustls", 2.0);
        assert_eq!(c.pairs(), vec![("sslfile".into(), "rustls".into())]);
        assert_eq!(c.ratio("sslfile", "tokio"), None);
    }
}

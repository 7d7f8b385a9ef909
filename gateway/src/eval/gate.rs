//! The regression gate: the figures last recorded in `docs/retrieval.md` are the floor.
//! The table under the heading `## Regression gate` holds one row per mode:
//!
//! ```text
//! | mode | top-1 | top-3 | MRR |
//! |---|---|---|---|
//! | hybrid | 0.875 | 0.975 | 0.927 |
//! ```
//!
//! A figure below its floor (by more than the printing precision) fails the gate; a
//! better figure passes and should be recorded, so the floor rises with the work.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::score::Figures;

/// Figures are printed to three decimals: differences below that are not regressions.
const PRECISION: f64 = 0.0005;

/// Reads the floors from the gate table of a Markdown file.
pub fn floors(markdown: &str) -> anyhow::Result<BTreeMap<String, Figures>> {
    let section = markdown.split("## Regression gate").nth(1).context("no \"## Regression gate\" section")?;
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut out = BTreeMap::new();
    for line in section.lines().map(str::trim).filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let nums: Result<Vec<f64>, _> = cells[1..4].iter().map(|c| c.parse::<f64>()).collect();
        if let Ok(n) = nums {
            out.insert(cells[0].trim_matches('`').to_owned(), Figures { top1: n[0], top3: n[1], mrr: n[2] });
        }
    }
    if out.is_empty() {
        bail!("the \"## Regression gate\" section has no | mode | top-1 | top-3 | MRR | rows");
    }
    Ok(out)
}

/// Every figure that fell below its floor, in words; empty when the gate passes.
pub fn regressions(measured: &BTreeMap<String, Figures>, floors: &BTreeMap<String, Figures>) -> Vec<String> {
    let mut out = Vec::new();
    for (mode, floor) in floors {
        let Some(m) = measured.get(mode) else {
            out.push(format!("{mode}: not measured"));
            continue;
        };
        for (name, got, want) in [("top-1", m.top1, floor.top1), ("top-3", m.top3, floor.top3), ("MRR", m.mrr, floor.mrr)] {
            if got + PRECISION < want {
                out.push(format!("{mode} {name} {got:.3} < {want:.3} recorded"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Retrieval\n\n## Regression gate\n\n| mode | top-1 | top-3 | MRR |\n|---|---|---|---|\n\
                       | hybrid | 0.875 | 0.975 | 0.927 |\n| `dense` | 0.5 | 0.9 | 0.7 |\n\n## Next\n| x | 1 | 2 | 3 |\n";

    #[test]
    fn reads_the_gate_table_only() {
        let f = floors(DOC).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f["hybrid"], Figures { top1: 0.875, top3: 0.975, mrr: 0.927 });
        assert_eq!(f["dense"].top1, 0.5);
    }

    #[test]
    fn a_drop_fails_and_a_rise_passes() {
        let f = floors(DOC).unwrap();
        let mut m = f.clone();
        assert!(regressions(&m, &f).is_empty());
        m.get_mut("hybrid").unwrap().top1 = 0.9;
        assert!(regressions(&m, &f).is_empty());
        m.get_mut("dense").unwrap().mrr = 0.69;
        assert_eq!(regressions(&m, &f), vec!["dense MRR 0.690 < 0.700 recorded".to_owned()]);
        m.remove("hybrid");
        assert_eq!(regressions(&m, &f).len(), 2);
    }
}

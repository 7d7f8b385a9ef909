//! The regression gate: the figures last recorded in `docs/retrieval.md` are the floor.
//! The table under the heading `## Regression gate` holds one row per set and mode, the
//! set named as its file is, without `.json`:
//!
//! ```text
//! | set | mode | top-1 | top-3 | MRR |
//! |---|---|---|---|---|
//! | incident-dev-set | hybrid | 0.875 | 0.975 | 0.927 |
//! ```
//!
//! A figure below its floor (by more than the printing precision) fails the gate; a
//! better figure passes and should be recorded, so the floor rises with the work. A set
//! the table does not name fails too: a gate that silently skips a set gates nothing.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::score::Figures;

/// Figures are printed to three decimals: differences below that are not regressions.
const PRECISION: f64 = 0.0005;

/// Floors per set name, then per mode.
pub type Floors = BTreeMap<String, BTreeMap<String, Figures>>;

/// Reads the floors from the gate table of a Markdown file.
pub fn floors(markdown: &str) -> anyhow::Result<Floors> {
    let section = markdown.split("## Regression gate").nth(1).context("no \"## Regression gate\" section")?;
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut out = Floors::new();
    for line in section.lines().map(str::trim).filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 5 {
            continue;
        }
        let nums: Result<Vec<f64>, _> = cells[2..5].iter().map(|c| c.parse::<f64>()).collect();
        if let Ok(n) = nums {
            let name = |c: &str| c.trim_matches('`').to_owned();
            out.entry(name(cells[0])).or_default().insert(name(cells[1]), Figures { top1: n[0], top3: n[1], mrr: n[2] });
        }
    }
    if out.is_empty() {
        bail!("the \"## Regression gate\" section has no | set | mode | top-1 | top-3 | MRR | rows");
    }
    Ok(out)
}

/// Every figure of `set` that fell below its floor, in words; empty when the gate passes.
pub fn regressions(set: &str, measured: &BTreeMap<String, Figures>, floors: &Floors) -> Vec<String> {
    let Some(floors) = floors.get(set) else {
        return vec![format!("{set}: no figures recorded for this set")];
    };
    let mut out = Vec::new();
    for (mode, floor) in floors {
        let Some(m) = measured.get(mode) else {
            out.push(format!("{set} {mode}: not measured"));
            continue;
        };
        for (name, got, want) in [("top-1", m.top1, floor.top1), ("top-3", m.top3, floor.top3), ("MRR", m.mrr, floor.mrr)] {
            if got + PRECISION < want {
                out.push(format!("{set} {mode} {name} {got:.3} < {want:.3} recorded"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Retrieval\n\n## Regression gate\n\n| set | mode | top-1 | top-3 | MRR |\n|---|---|---|---|---|\n\
                       | a | hybrid | 0.875 | 0.975 | 0.927 |\n| a | `dense` | 0.5 | 0.9 | 0.7 |\n| `b` | hybrid | 0.1 | 0.2 | 0.3 |\n\
                       \n## Next\n| x | y | 1 | 2 | 3 |\n";

    #[test]
    fn reads_the_gate_table_only() {
        let f = floors(DOC).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f["a"]["hybrid"], Figures { top1: 0.875, top3: 0.975, mrr: 0.927 });
        assert_eq!(f["a"]["dense"].top1, 0.5);
        assert_eq!(f["b"].len(), 1);
    }

    #[test]
    fn a_drop_fails_and_a_rise_passes() {
        let f = floors(DOC).unwrap();
        let mut m = f["a"].clone();
        assert!(regressions("a", &m, &f).is_empty());
        m.get_mut("hybrid").unwrap().top1 = 0.9;
        assert!(regressions("a", &m, &f).is_empty());
        m.get_mut("dense").unwrap().mrr = 0.69;
        assert_eq!(regressions("a", &m, &f), vec!["a dense MRR 0.690 < 0.700 recorded".to_owned()]);
        m.remove("hybrid");
        assert_eq!(regressions("a", &m, &f).len(), 2);
    }

    #[test]
    fn a_set_without_recorded_figures_fails() {
        let f = floors(DOC).unwrap();
        assert_eq!(regressions("c", &f["a"], &f), vec!["c: no figures recorded for this set".to_owned()]);
    }
}

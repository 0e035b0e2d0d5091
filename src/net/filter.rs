//! Phase filtering (Caffe's FilterNet / StateMeetsRule) and Caffe's split insertion
//! (InsertSplits) on the list of layer definitions.

use crate::error::{Error, Result};
use crate::proto::caffe::{LayerParameter, NetStateRule, Phase};
use std::collections::HashMap;

/// The state a net is built in: phase, level 0, the stages named in the file's `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// TRAIN or TEST.
    pub phase: Phase,
    /// Level (Caffe's tools use 0).
    pub level: i32,
    /// Stages.
    pub stages: Vec<String>,
}

/// Whether `rule` is met in `state`.
pub fn meets_rule(state: &State, rule: &NetStateRule) -> bool {
    if rule.phase.is_some() && rule.phase() != state.phase {
        return false;
    }
    if rule.min_level.is_some_and(|m| state.level < m) {
        return false;
    }
    if rule.max_level.is_some_and(|m| state.level > m) {
        return false;
    }
    rule.stage.iter().all(|s| state.stages.contains(s))
        && !rule.not_stage.iter().any(|s| state.stages.contains(s))
}

/// Whether a layer is part of the net in `state`: with include rules, any must be met; otherwise
/// no exclude rule may be met. Both kinds at once is an error.
pub fn layer_included(state: &State, lp: &LayerParameter) -> Result<bool> {
    if !lp.include.is_empty() && !lp.exclude.is_empty() {
        return Err(Error::input("a layer may have include rules or exclude rules, not both"));
    }
    if !lp.include.is_empty() {
        return Ok(lp.include.iter().any(|r| meets_rule(state, r)));
    }
    Ok(!lp.exclude.iter().any(|r| meets_rule(state, r)))
}

/// Inserts Split layers where one top feeds several bottoms, named and wired as Caffe does:
/// layer `<blob>_<producer>_<top index>_split`, tops `<layer name>_<k>`. `origin[i]` says which input
/// layer produced output layer i (`None` for inserted splits). Bottoms naming no earlier top are
/// left alone (the builder reports them).
pub fn insert_splits(layers: &[LayerParameter]) -> (Vec<LayerParameter>, Vec<Option<usize>>) {
    // (layer, top index) that last wrote each blob name, and how many bottoms read each top.
    let mut last_writer: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut source: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    let mut readers: HashMap<(usize, usize), usize> = HashMap::new();
    for (i, lp) in layers.iter().enumerate() {
        for (j, b) in lp.bottom.iter().enumerate() {
            if let Some(&src) = last_writer.get(b.as_str()) {
                source.insert((i, j), src);
                *readers.entry(src).or_default() += 1;
            }
        }
        for (j, t) in lp.top.iter().enumerate() {
            last_writer.insert(t.as_str(), (i, j));
        }
    }
    let mut next_reader: HashMap<(usize, usize), usize> = HashMap::new();
    let mut out = Vec::with_capacity(layers.len());
    let mut origin = Vec::with_capacity(layers.len());
    for (i, lp) in layers.iter().enumerate() {
        let mut lp = lp.clone();
        for j in 0..lp.bottom.len() {
            let Some(&src) = source.get(&(i, j)) else { continue };
            if readers[&src] > 1 {
                let k = next_reader.entry(src).or_default();
                let producer = &layers[src.0];
                lp.bottom[j] = split_top_name(&producer.top[src.1], producer.name(), src.1, *k);
                *k += 1;
            }
        }
        let tops = lp.top.clone();
        let name = lp.name().to_string();
        out.push(lp);
        origin.push(Some(i));
        for (j, t) in tops.iter().enumerate() {
            let n = readers.get(&(i, j)).copied().unwrap_or(0);
            if n > 1 {
                out.push(LayerParameter {
                    name: Some(split_layer_name(t, &name, j)),
                    r#type: Some("Split".into()),
                    bottom: vec![t.clone()],
                    top: (0..n).map(|k| split_top_name(t, &name, j, k)).collect(),
                    ..Default::default()
                });
                origin.push(None);
            }
        }
    }
    (out, origin)
}

fn split_layer_name(blob: &str, layer: &str, top_index: usize) -> String {
    format!("{blob}_{layer}_{top_index}_split")
}

fn split_top_name(blob: &str, layer: &str, top_index: usize, k: usize) -> String {
    format!("{}_{k}", split_layer_name(blob, layer, top_index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse_net;

    fn state(phase: Phase) -> State {
        State { phase, level: 0, stages: vec!["deploy".into()] }
    }

    #[test]
    fn rules() {
        let net = parse_net(
            r#"layer { name: "a" include { phase: TRAIN } }
               layer { name: "b" include { phase: TEST } include { stage: "deploy" } }
               layer { name: "c" exclude { phase: TEST } }
               layer { name: "d" include { min_level: 1 } }
               layer { name: "e" include { not_stage: "deploy" } }
               layer { name: "f" }
               layer { name: "g" include { phase: TRAIN } exclude { phase: TEST } }"#,
            "t",
        )
        .unwrap()
        .0;
        let kept = |phase| -> Vec<String> {
            net.layer[..6]
                .iter()
                .filter(|l| layer_included(&state(phase), l).unwrap())
                .map(|l| l.name().to_string())
                .collect()
        };
        assert_eq!(kept(Phase::Train), ["a", "b", "c", "f"]);
        assert_eq!(kept(Phase::Test), ["b", "f"]);
        assert!(layer_included(&state(Phase::Train), &net.layer[6]).is_err());
    }

    #[test]
    fn splits_are_named_and_wired_like_caffe() {
        let net = parse_net(
            r#"layer { name: "data" type: "Input" top: "data" }
               layer { name: "pool" type: "Pooling" bottom: "data" top: "p" }
               layer { name: "relu" type: "ReLU" bottom: "p" top: "p" }
               layer { name: "c1" type: "Convolution" bottom: "p" top: "c1" }
               layer { name: "c2" type: "Convolution" bottom: "p" top: "c2" }
               layer { name: "cat" type: "Concat" bottom: "c1" bottom: "c2" bottom: "p" top: "cat" }"#,
            "t",
        )
        .unwrap()
        .0;
        let (out, origin) = insert_splits(&net.layer);
        let names: Vec<&str> = out.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["data", "pool", "relu", "p_relu_0_split", "c1", "c2", "cat"]);
        assert_eq!(origin, [Some(0), Some(1), Some(2), None, Some(3), Some(4), Some(5)]);
        assert_eq!(out[3].bottom, ["p"]);
        assert_eq!(out[3].top, ["p_relu_0_split_0", "p_relu_0_split_1", "p_relu_0_split_2"]);
        assert_eq!(out[4].bottom, ["p_relu_0_split_0"]);
        assert_eq!(out[5].bottom, ["p_relu_0_split_1"]);
        assert_eq!(out[6].bottom, ["c1", "c2", "p_relu_0_split_2"]);
    }
}

//! `magic-init info`: one row per layer (name, type, bottoms → tops, top shapes, parameter
//! count, multiply-adds per item) and totals, as a table or as JSON.

use crate::json::Json;
use crate::layers::{count, fmt_shape};
use crate::net::Net;

/// One row of the report.
struct Row {
    name: String,
    kind: String,
    wiring: String,
    shapes: String,
    params: u64,
    macs: u64,
}

fn rows(net: &Net) -> Vec<Row> {
    net.nodes
        .iter()
        .map(|n| {
            let names = |ids: &[usize]| {
                ids.iter().map(|&i| net.blobs[i].name.as_str()).collect::<Vec<_>>().join(",")
            };
            let tops = match &n.layer {
                crate::layers::Layer::Split(_) => format!("{} copies", n.tops.len()),
                _ => n.proto.top.join(","),
            };
            let wiring = if n.bottoms.is_empty() {
                format!("→ {tops}")
            } else {
                format!("{} → {tops}", names(&n.bottoms))
            };
            Row {
                name: n.name.clone(),
                kind: n.layer.type_name().to_string(),
                wiring,
                shapes: {
                    let shapes: Vec<String> =
                        n.tops.iter().map(|&t| fmt_shape(&net.blobs[t].shape)).collect();
                    if shapes.len() > 1 && shapes.iter().all(|s| *s == shapes[0]) {
                        format!("{} × {}", shapes.len(), shapes[0])
                    } else {
                        shapes.join(", ")
                    }
                },
                params: n.param_shapes.iter().map(|s| count(s) as u64).sum(),
                macs: net.node_macs_per_item(n),
            }
        })
        .collect()
}

/// Shortens `s` to at most `max` characters by cutting out its middle.
fn ellipsize(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Groups digits by thousands: 60965224 → 60,965,224.
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Human-scaled count: 724.4M, 1.13G.
pub fn scaled(v: u64) -> String {
    let f = v as f64;
    match v {
        0 => "0".into(),
        v if v < 10_000 => v.to_string(),
        _ if f < 1e6 => format!("{:.1}K", f / 1e3),
        _ if f < 1e9 => format!("{:.1}M", f / 1e6),
        _ => format!("{:.2}G", f / 1e9),
    }
}

/// The human-readable table.
pub fn table(net: &Net) -> String {
    let rows = rows(net);
    let head = ["layer", "type", "bottoms → tops", "top shape", "params", "MACs/item"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                ellipsize(&r.name, 36),
                r.kind.clone(),
                ellipsize(&r.wiring, 60),
                r.shapes.clone(),
                if r.params == 0 { String::new() } else { thousands(r.params) },
                if r.macs == 0 { String::new() } else { scaled(r.macs) },
            ]
        })
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([head[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..6).map(width).collect();
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, cell) in c.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i >= 4 {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i < 5 {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i < 5 {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "net \"{}\", phase {}, batch {}\n",
        net.name,
        if net.phase == crate::proto::caffe::Phase::Train { "TRAIN" } else { "TEST" },
        net.batch_size()
    );
    out.push_str(&line(&head.map(String::from)));
    for c in &cells {
        out.push_str(&line(c));
    }
    let weighted = net.nodes.iter().filter(|n| n.layer.is_weighted()).count();
    out.push_str(&format!(
        "total: {} layers ({} with weights to initialise), {} parameters, {} multiply-adds per item ({})\n",
        net.nodes.len(),
        weighted,
        thousands(net.param_count()),
        thousands(net.macs_per_item()),
        scaled(net.macs_per_item()),
    ));
    let outputs: Vec<&str> = net.outputs.iter().map(|&i| net.blobs[i].name.as_str()).collect();
    out.push_str(&format!("outputs: {}\n", outputs.join(", ")));
    for n in &net.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// The same report as JSON.
pub fn json(net: &Net) -> String {
    let shape = |s: &[usize]| Json::Arr(s.iter().map(|&d| Json::int(d as u64)).collect());
    let layers = net
        .nodes
        .iter()
        .map(|n| {
            let blobs = |ids: &[usize]| {
                Json::Arr(ids.iter().map(|&i| Json::str(net.blobs[i].name.clone())).collect())
            };
            Json::obj([
                ("name", Json::str(n.name.clone())),
                ("type", Json::str(n.layer.type_name())),
                (
                    "bottoms",
                    Json::Arr(n.proto.bottom.iter().map(|b| Json::str(b.clone())).collect()),
                ),
                ("tops", Json::Arr(n.proto.top.iter().map(|b| Json::str(b.clone())).collect())),
                ("top_blobs", blobs(&n.tops)),
                (
                    "top_shapes",
                    Json::Arr(n.tops.iter().map(|&t| shape(&net.blobs[t].shape)).collect()),
                ),
                ("param_shapes", Json::Arr(n.param_shapes.iter().map(|s| shape(s)).collect())),
                ("params", Json::int(n.param_shapes.iter().map(|s| count(s) as u64).sum::<u64>())),
                ("macs_per_item", Json::int(net.node_macs_per_item(n))),
            ])
        })
        .collect();
    Json::obj([
        ("name", Json::str(net.name.clone())),
        (
            "phase",
            Json::str(if net.phase == crate::proto::caffe::Phase::Train {
                "TRAIN"
            } else {
                "TEST"
            }),
        ),
        ("batch", Json::int(net.batch_size() as u64)),
        ("layers", Json::Arr(layers)),
        ("total_params", Json::int(net.param_count())),
        ("total_macs_per_item", Json::int(net.macs_per_item())),
        (
            "outputs",
            Json::Arr(net.outputs.iter().map(|&i| Json::str(net.blobs[i].name.clone())).collect()),
        ),
        ("notes", Json::Arr(net.notes.iter().map(|n| Json::str(n.clone())).collect())),
    ])
    .to_string_compact()
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(60965224), "60,965,224");
        assert_eq!(thousands(999), "999");
        assert_eq!(scaled(724_406_816), "724.4M");
        assert_eq!(scaled(1_500_000_000), "1.50G");
        assert_eq!(ellipsize("abcdefghij", 5), "ab…ij");
        assert_eq!(ellipsize("abc", 5), "abc");
    }
}

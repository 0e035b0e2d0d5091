//! Protobuf text format ("prototxt") for Caffe's schema: a hand-written tokenizer, a parser that
//! encodes straight to wire bytes against the schema table (so prost decodes the result), and a
//! printer that goes the other way.

pub mod lexer;
pub mod parser;
pub mod printer;
pub mod wire;

pub use lexer::Pos;
pub use parser::Spans;

use crate::error::{Error, Result};
use crate::proto::caffe::NetParameter;
use crate::proto::schema;

/// Parses text as message type `type_name` (e.g. `caffe.NetParameter`) into its prost type.
pub fn parse<M: prost::Message + Default>(
    src: &str,
    file: &str,
    type_name: &str,
) -> Result<(M, Spans)> {
    let (bytes, spans) = parser::parse_to_wire(src, file, schema::message(type_name))?;
    let msg = M::decode(bytes.as_slice())
        .map_err(|e| Error::input(format!("{file}: cannot decode parsed {type_name}: {e}")))?;
    Ok((msg, spans))
}

/// Prints a prost message of type `type_name` as text.
pub fn print<M: prost::Message>(msg: &M, type_name: &str) -> String {
    printer::print_wire(&msg.encode_to_vec(), schema::message(type_name))
}

/// Parses a prototxt holding a `NetParameter` (no upgrade applied).
pub fn parse_net(src: &str, file: &str) -> Result<(NetParameter, Spans)> {
    parse(src, file, "caffe.NetParameter")
}

/// Prints a `NetParameter` as prototxt.
pub fn print_net(net: &NetParameter) -> String {
    print(net, "caffe.NetParameter")
}

/// Reads and parses a prototxt file holding a `NetParameter` (no upgrade applied).
pub fn read_net_file(path: &std::path::Path) -> Result<(NetParameter, Spans)> {
    let src = std::fs::read(path)
        .map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
    let src = String::from_utf8(src)
        .map_err(|e| Error::input(format!("{}: not UTF-8 text: {e}", path.display())))?;
    parse_net(&src, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::caffe::{LayerParameter, Phase};

    const CORNERS: &str = include_str!("../../tests/data/syntax_corners.prototxt");

    #[test]
    fn every_spelling_maps_to_the_right_field() {
        let (net, spans) = parse_net(CORNERS, "corners.prototxt").unwrap();
        assert_eq!(net.name(), "corner \"cases\"");
        assert_eq!(net.input, ["data"]);
        assert_eq!(net.input_dim, [1, 3, 11, 9]);
        assert!(net.force_backward());
        let state = net.state.as_ref().unwrap();
        assert_eq!(
            (state.phase(), state.level(), state.stage.as_slice()),
            (Phase::Train, -2, &["ab".to_string()][..])
        );
        let conv = &net.layer[0];
        assert_eq!(conv.name(), "conv\t1AA");
        assert_eq!(conv.param.len(), 2);
        assert_eq!((conv.param[0].decay_mult(), conv.param[1].lr_mult()), (0.5, 2.0));
        let cp = conv.convolution_param.as_ref().unwrap();
        assert_eq!(
            (cp.num_output(), cp.kernel_size.as_slice(), cp.stride.as_slice()),
            (4, &[3][..], &[1][..])
        );
        let wf = cp.weight_filler.as_ref().unwrap();
        assert_eq!((wf.std(), wf.mean().to_bits()), (1e-4, (-0.0f32).to_bits()));
        assert_eq!(cp.bias_filler.as_ref().unwrap().value(), 1.5);
        let lw = &conv.loss_weight;
        assert!(
            lw[0] == f32::NEG_INFINITY && lw[1] == f32::INFINITY && lw[2].is_nan() && lw[3] == 1.0
        );
        assert_eq!(conv.phase(), Phase::Test);
        assert_eq!(conv.include.len(), 2);
        assert_eq!(conv.include[1].min_level, Some(-1));
        assert_eq!(net.layer[1].relu_param.as_ref().unwrap().negative_slope(), 0.0);
        assert_eq!(spans.nth("layer", 0), Some(Pos { line: 6, col: 1 }));
        assert_eq!(spans.nth("layer", 1), Some(Pos { line: 19, col: 1 }));
    }

    #[test]
    fn print_then_parse_is_the_identity() {
        let (net, _) = parse_net(CORNERS, "corners.prototxt").unwrap();
        let text = print_net(&net);
        let (again, _) = parse_net(&text, "printed").unwrap();
        // NaN != NaN, so compare the wire bytes.
        use prost::Message;
        assert_eq!(again.encode_to_vec(), net.encode_to_vec(), "{text}");
        assert!(text.contains("layer {\n  name: \"conv\\t1AA\"\n"), "{text}");
        assert!(text.contains("    weight_filler {\n      type: \"gaussian\"\n"), "{text}");
        assert!(text.contains("  loss_weight: -inf\n"), "{text}");
    }

    fn err(src: &str) -> String {
        parse_net(src, "f.prototxt").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_position_and_the_field() {
        let cases = [
            ("layer {\n  nme: \"x\"\n}", "f.prototxt:2:3: unknown field `nme` in message caffe.LayerParameter"),
            ("name \"x\"", "f.prototxt:1:6: expected `:` after field `name`, found a string"),
            ("layer { phase: TRAINING }", "f.prototxt:1:16: `TRAINING` is not a value of caffe.Phase for field `phase` (one of: TRAIN, TEST)"),
            ("layer { phase: 7 }", "f.prototxt:1:16: field `phase` expects a value of caffe.Phase, found number `7`"),
            ("input_dim: 3000000000", "f.prototxt:1:12: value of `input_dim` out of range [-2147483648, 2147483647]"),
            ("input_dim: 1.5", "f.prototxt:1:12: field `input_dim` expects an integer, found number `1.5`"),
            ("name: 'abc", "f.prototxt:1:7: string is not closed on its line"),
            ("layer {\n name: \"a\"\n", "f.prototxt:3:1: expected `}` before end of file"),
            ("name: \"a\" name: \"b\"", "f.prototxt:1:11: field `name` of caffe.NetParameter is not repeated but is given twice"),
            ("name: [\"a\"]", "f.prototxt:1:7: field `name` is not repeated: no `[...]` list"),
            ("layer: 3", "f.prototxt:1:8: expected `{` to open message field `layer`, found number `3`"),
            ("force_backward: yes", "f.prototxt:1:17: field `force_backward` expects true or false, found `yes`"),
            ("input_dim: [1 2]", "f.prototxt:1:15: expected `,` or `]` in the list of `input_dim`, found number `2`"),
            ("} ", "f.prototxt:1:1: expected a field name, found `}`"),
            ("name: \"\\q\"", "f.prototxt:1:8: unknown escape \\q"),
        ];
        for (src, want) in cases {
            assert_eq!(err(src), want, "{src}");
        }
    }

    #[test]
    fn garbage_nesting_is_an_error_not_a_crash() {
        // Caffe's schema has no recursive message, so nesting depth is bounded by the schema;
        // deeper input fails on the first unknown field or stray brace.
        let deep = "layer { ".repeat(10000) + &"} ".repeat(10000);
        assert!(err(&deep).contains("unknown field `layer`"));
        let open = String::from("layer { include ") + &"{ ".repeat(10000);
        assert!(err(&open).contains("expected a field name, found `{`"));
        let l: LayerParameter =
            parse("blobs { shape { dim: 1 } data: [1, 2] }", "b", "caffe.LayerParameter")
                .unwrap()
                .0;
        assert_eq!(l.blobs[0].data, [1.0, 2.0]);
    }

    #[test]
    fn shared_models_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("note: {} not present; skipping", dir.display());
            return;
        };
        let mut n = 0;
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "prototxt") {
                continue;
            }
            let (net, _) = read_net_file(&path).unwrap();
            let (again, _) = parse_net(&print_net(&net), "printed").unwrap();
            assert_eq!(again, net, "{}", path.display());
            n += 1;
        }
        assert!(n >= 10, "only {n} models found");
    }
}

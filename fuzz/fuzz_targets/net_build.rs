//! Fuzz target: building a net from any parseable prototxt returns Ok or a clear error and never
//! panics (shape arithmetic, upgrade, splits, phase rules); built nets have consistent shapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use magic_init::net::{BuildOptions, Net};
use magic_init::proto::caffe::Phase;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok((param, spans)) = magic_init::prototxt::parse_net(text, "fuzz") else { return };
    for phase in [Phase::Train, Phase::Test] {
        let opts = BuildOptions { phase, ..Default::default() };
        if let Ok(net) = Net::build(param.clone(), Some(&spans), "fuzz", &opts) {
            for n in &net.nodes {
                assert!(n.bottoms.iter().chain(&n.tops).all(|&b| b < net.blobs.len()));
            }
            let _ = net.param_count();
            let _ = net.macs_per_item();
            let _ = magic_init::info::table(&net);
        }
    }
});

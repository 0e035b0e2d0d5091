//! Fuzz target: any text either fails to parse with an error, or parses to a net whose printed
//! form parses back to the same wire bytes (parse → print → parse is the identity).
#![no_main]

use libfuzzer_sys::fuzz_target;
use magic_init::prototxt::{parse_net, print_net};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok((net, _)) = parse_net(text, "fuzz") else { return };
    let printed = print_net(&net);
    let (again, _) = parse_net(&printed, "printed")
        .unwrap_or_else(|e| panic!("printed text does not parse: {e}\n{printed}"));
    assert_eq!(again.encode_to_vec(), net.encode_to_vec(), "round trip changed the net:\n{printed}");
});

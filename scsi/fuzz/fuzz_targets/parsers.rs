//! cargo-fuzz target: every parser of the `scsi` crate on one input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    scsi::fuzzing::fuzz_parsers(data);
});

#![no_main]
//! Ring control block, record headers, frame headers and archives from raw bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_ipc::fuzzing::ring_image(data);
});

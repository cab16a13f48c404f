#![no_main]
//! The socket fallback's framing from raw bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shm_ipc::fuzzing::socket_stream(data);
});

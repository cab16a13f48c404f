//! A short, deterministic run of the fuzz targets' inputs: random bytes and mutations
//! of valid ring images and socket streams. The real fuzzing runs with `cargo fuzz`
//! (see shm-ipc/fuzz/).

use shm_ipc::fuzzing::{ring_image, socket_stream};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A valid image: head after `records` records of a request frame, tail at 0.
fn valid_ring(records: usize) -> Vec<u8> {
    let mut image = vec![0u8; 256 + 4096];
    let mut offset = 0usize;
    for i in 0..records {
        let archive = [i as u8; 16];
        let len = 24 + archive.len();
        let rec = 256 + offset;
        image[rec..rec + 4].copy_from_slice(&(len as u32).to_le_bytes());
        image[rec + 4..rec + 8].copy_from_slice(b"DATA");
        image[rec + 8 + 20] = 1; // frame kind: request
        image[rec + 32..rec + 32 + archive.len()].copy_from_slice(&archive);
        offset += (8 + len + 15) & !15;
    }
    image[..8].copy_from_slice(&(offset as u64).to_le_bytes());
    image
}

#[test]
fn ring_parsing_survives_random_and_mutated_images() {
    for records in 1..8 {
        assert_eq!(
            ring_image(&valid_ring(records)),
            records,
            "the valid image must parse"
        );
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let mut image = if round % 2 == 0 {
            valid_ring(1 + round % 7)
        } else {
            (0..(rng.next() % 4400) as usize)
                .map(|_| rng.next() as u8)
                .collect()
        };
        for _ in 0..1 + rng.next() % 8 {
            if image.is_empty() {
                break;
            }
            let at = (rng.next() as usize) % image.len();
            image[at] = rng.next() as u8;
        }
        ring_image(&image);
    }
}

#[test]
fn socket_parsing_survives_random_and_mutated_streams() {
    let mut valid = Vec::new();
    for _ in 0..3 {
        valid.extend_from_slice(&24u32.to_le_bytes());
        valid.extend_from_slice(b"DATA");
        let mut header = [0u8; 24];
        header[20] = 2;
        valid.extend_from_slice(&header);
    }
    assert_eq!(socket_stream(&valid), 3, "the valid stream must parse");
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for round in 0..3_000 {
        let mut stream: Vec<u8> = Vec::new();
        if round % 2 == 0 {
            for i in 0..1 + round % 5 {
                let body = vec![i as u8; (rng.next() % 64) as usize];
                stream.extend_from_slice(&((24 + body.len()) as u32).to_le_bytes());
                stream.extend_from_slice(b"DATA");
                let mut header = [0u8; 24];
                header[20] = 2; // frame kind: response
                stream.extend_from_slice(&header);
                stream.extend_from_slice(&body);
            }
        } else {
            stream = (0..(rng.next() % 512) as usize)
                .map(|_| rng.next() as u8)
                .collect();
        }
        for _ in 0..rng.next() % 4 {
            if stream.is_empty() {
                break;
            }
            let at = (rng.next() as usize) % stream.len();
            stream[at] = rng.next() as u8;
        }
        socket_stream(&stream);
    }
}

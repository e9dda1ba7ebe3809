//! The stable stand-in for libFuzzer: a seed corpus, and a deterministic
//! mutation loop (SplitMix64 with a fixed seed per target) of the mutations
//! libFuzzer's own mutator makes (bit flips, bytes set to interesting
//! values, inserts and deletes, dictionary tokens, copies within an input,
//! splices between corpus entries). No coverage feedback: every 8th mutant
//! joins a bounded pool so mutations stack.
//!
//! A panic is caught, the input written under the test target directory,
//! and the test fails naming the file and how to replay it.

#![allow(dead_code)] // each test binary uses its part

pub mod scripts;
pub mod seeds;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// libFuzzer's default `-max_len`: mutants never grow past it.
pub const MAX_LEN: usize = 4096;

/// The stack the loops run on: the main thread's, as under libFuzzer and
/// in the CLI, not a test thread's 2 MiB.
const STACK: usize = 8 << 20;

/// The repository root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `fuzz/corpus/<target>`.
pub fn corpus_dir(target: &str) -> PathBuf {
    repository().join("fuzz/corpus").join(target)
}

/// Every file in `dir`, sorted by name, with its bytes.
pub fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect(),
        Err(error) => panic!("{}: {error}", dir.display()),
    };
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes =
                std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// The committed seed corpus of `target`; it must not be empty.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let files = files_in(&corpus_dir(target));
    assert!(
        !files.is_empty(),
        "fuzz/corpus/{target} is empty; run HILT_FUZZ_BLESS=1 cargo test -p hilt-fuzzing"
    );
    files
}

/// Iterations of a mutation loop: `default`, or `HILT_FUZZ_ITERATIONS`.
pub fn iterations(default: usize) -> usize {
    std::env::var("HILT_FUZZ_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// Runs `body` on a thread with the main thread's stack size.
pub fn on_big_stack<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let handle = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(body)
        .expect("spawn a fuzzing thread");
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Runs `target` on `input`; a panic fails the test with the input saved.
pub fn run_one(name: &str, label: &str, target: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_ok() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hilt-fuzzing");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-crash-{:016x}", fnv1a(input)));
    let saved = std::fs::write(&path, input).is_ok();
    let shown = if input.len() <= 1024 {
        format!("{:?}", String::from_utf8_lossy(input))
    } else {
        format!("({} bytes)", input.len())
    };
    panic!(
        "{name} panicked on {label} (see the panic above): {shown}\n\
         input {}: {}\n\
         replay: HILT_FUZZ_REPRODUCE={name}:{} cargo test -p hilt-fuzzing --test stable_fuzz reproduce -- --nocapture\n\
         or:     cargo +nightly fuzz run {name} {}",
        if saved {
            "saved in"
        } else {
            "could not be saved to"
        },
        path.display(),
        path.display(),
        path.display(),
    );
}

/// Runs `target` on every entry.
pub fn run_corpus(name: &str, target: fn(&[u8]), entries: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in entries {
        run_one(name, &path.display().to_string(), target, bytes);
    }
}

/// FNV-1a, to name saved inputs.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: small, fast and good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const INTERESTING_BYTES: &[u8] = &[
    0, 1, 2, 3, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x10, 0x20, 0x30, 0x40, b'\n', b' ', b':', b'-',
    b'{', b'}', b'[', b']', b'"', b'\'', b'/', b'#', b'+', b'0', b'1',
];

const INTERESTING_U16: &[u16] = &[
    0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xfffe, 0xffff, 2048, 2049,
    4096,
];

/// The deterministic mutator.
#[derive(Debug)]
pub struct Mutator {
    pub rng: SplitMix64,
    dictionary: &'static [&'static [u8]],
}

impl Mutator {
    pub fn new(seed: u64, dictionary: &'static [&'static [u8]]) -> Self {
        Mutator {
            rng: SplitMix64::new(seed),
            dictionary,
        }
    }

    /// One to four mutations of `input`, some drawing on `corpus`.
    pub fn mutate(&mut self, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let count = 1 + self.rng.below(4);
        for _ in 0..count {
            self.mutate_once(input, corpus);
        }
        input.truncate(MAX_LEN);
    }

    fn position(&mut self, input: &[u8]) -> usize {
        self.rng.below(input.len() + 1)
    }

    fn token(&mut self) -> &'static [u8] {
        if self.dictionary.is_empty() {
            return b"";
        }
        self.dictionary[self.rng.below(self.dictionary.len())]
    }

    fn mutate_once(&mut self, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let rng = &mut self.rng;
        match rng.below(14) {
            // Flip a bit.
            0 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] ^= 1 << rng.below(8);
            }
            // Set a random byte.
            1 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] = rng.byte();
            }
            // Set an interesting byte.
            2 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            // Add or subtract a little.
            3 if !input.is_empty() => {
                let at = rng.below(input.len());
                let delta = 1 + rng.below(16) as u8;
                input[at] = if rng.chance(2) {
                    input[at].wrapping_add(delta)
                } else {
                    input[at].wrapping_sub(delta)
                };
            }
            // Overwrite two bytes with an interesting big-endian number.
            4 if input.len() >= 2 => {
                let at = rng.below(input.len() - 1);
                let value = INTERESTING_U16[rng.below(INTERESTING_U16.len())];
                input[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
            // Insert random bytes.
            5 => {
                let at = self.position(input);
                let count = 1 + self.rng.below(8);
                let bytes: Vec<u8> = (0..count).map(|_| self.rng.byte()).collect();
                input.splice(at..at, bytes);
            }
            // Insert a dictionary token.
            6 => {
                let at = self.position(input);
                let token = self.token();
                input.splice(at..at, token.iter().copied());
            }
            // Overwrite with a dictionary token.
            7 if !input.is_empty() => {
                let token = self.token();
                let at = self.rng.below(input.len());
                let end = (at + token.len()).min(input.len());
                input.splice(at..end, token.iter().copied());
            }
            // Delete a range.
            8 if !input.is_empty() => {
                let at = rng.below(input.len());
                let count = 1 + rng.below(16.min(input.len() - at));
                input.drain(at..at + count);
            }
            // Copy a range elsewhere in the input.
            9 if !input.is_empty() => {
                let from = rng.below(input.len());
                let count = 1 + rng.below(32.min(input.len() - from));
                let chunk = input[from..from + count].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            // Splice: this input's head, another's tail.
            10 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let head = rng.below(input.len() + 1);
                let tail = rng.below(other.len() + 1);
                input.truncate(head);
                input.extend_from_slice(&other[tail..]);
            }
            // Insert a piece of another entry.
            11 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let count = 1 + rng.below(64.min(other.len() - from));
                    let at = rng.below(input.len() + 1);
                    input.splice(at..at, other[from..from + count].iter().copied());
                }
            }
            // Cut the end off.
            12 if !input.is_empty() => {
                let keep = rng.below(input.len());
                input.truncate(keep);
            }
            // Swap two bytes.
            _ if input.len() >= 2 => {
                let a = rng.below(input.len());
                let b = rng.below(input.len());
                input.swap(a, b);
            }
            _ => input.push(rng.byte()),
        }
    }
}

/// What a mutation loop did.
#[derive(Debug)]
pub struct LoopReport {
    pub iterations: usize,
    pub elapsed: Duration,
}

/// Runs `target` on `iterations` inputs made by `make` from a
/// deterministic random source seeded with `seed`, on a big stack.
pub fn generation_loop(
    name: &'static str,
    target: fn(&[u8]),
    make: fn(&mut SplitMix64) -> Vec<u8>,
    seed: u64,
    iterations: usize,
) -> LoopReport {
    on_big_stack(move || {
        let started = Instant::now();
        let mut rng = SplitMix64::new(seed);
        for iteration in 0..iterations {
            let input = make(&mut rng);
            run_one(
                name,
                &format!("generated input {iteration}"),
                target,
                &input,
            );
        }
        let report = LoopReport {
            iterations,
            elapsed: started.elapsed(),
        };
        eprintln!(
            "{name}: {iterations} generated inputs in {:.2?}",
            report.elapsed
        );
        report
    })
}

/// Runs `target` on `iterations` mutants of `seeds`, on a big stack,
/// deterministically for a given `seed`.
pub fn mutation_loop(
    name: &'static str,
    target: fn(&[u8]),
    seeds: Vec<Vec<u8>>,
    dictionary: &'static [&'static [u8]],
    seed: u64,
    iterations: usize,
) -> LoopReport {
    on_big_stack(move || {
        let started = Instant::now();
        let mut mutator = Mutator::new(seed, dictionary);
        let base = seeds.len();
        let mut pool = seeds;
        for iteration in 0..iterations {
            let mut input = pool[mutator.rng.below(pool.len())].clone();
            mutator.mutate(&mut input, &pool);
            run_one(name, &format!("mutant {iteration}"), target, &input);
            if iteration % 8 == 0 {
                if pool.len() < base + 256 {
                    pool.push(input);
                } else {
                    let slot = base + mutator.rng.below(256);
                    pool[slot] = input;
                }
            }
        }
        let report = LoopReport {
            iterations,
            elapsed: started.elapsed(),
        };
        eprintln!("{name}: {iterations} mutants in {:.2?}", report.elapsed);
        report
    })
}

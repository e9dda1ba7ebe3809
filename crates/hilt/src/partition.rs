//! `--partition count:M/N` and `hash:M/N`: one shard of the scenario files,
//! with the meaning cargo-nextest gives its `--partition`, so that a CI
//! matrix of N machines runs every scenario exactly once.

use std::path::{Component, Path};

/// Which share of the scenario files this run takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    kind: PartitionKind,
    /// The shard, counting from 1.
    shard: u64,
    /// How many shards there are.
    total_shards: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartitionKind {
    /// Every N-th file in the order found, starting with the M-th.
    Count,
    /// The files whose path hashes to M - 1 modulo N.
    Hash,
}

impl Partition {
    /// Parses `count:M/N` or `hash:M/N`, with 1 <= M <= N. The message of an
    /// error is a sentence for clap to show after the value.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let (kind, shards) = if let Some(shards) = text.strip_prefix("count:") {
            (PartitionKind::Count, shards)
        } else if let Some(shards) = text.strip_prefix("hash:") {
            (PartitionKind::Hash, shards)
        } else {
            return Err("expected count:M/N or hash:M/N (for example hash:1/3)".to_owned());
        };
        let Some((shard, total_shards)) = shards.split_once('/') else {
            return Err(format!("expected M/N after the colon, not '{shards}'"));
        };
        let number = |digits: &str, what: &str| {
            digits
                .parse::<u64>()
                .map_err(|_| format!("the {what} '{digits}' is not a whole number"))
        };
        let shard = number(shard, "shard M")?;
        let total_shards = number(total_shards, "number of shards N")?;
        if total_shards == 0 || !(1..=total_shards).contains(&shard) {
            return Err(format!(
                "the shard M must be between 1 and the number of shards N ({total_shards}), \
                 inclusive, not {shard}"
            ));
        }
        Ok(Partition {
            kind,
            shard,
            total_shards,
        })
    }

    /// The files of this shard, in the order given. `files` is the whole
    /// list as found (folders sorted by name), since `count:` depends on
    /// every file's position in it.
    pub fn select<P: AsRef<Path> + Clone>(&self, files: &[P]) -> Vec<P> {
        files
            .iter()
            .enumerate()
            .filter(|(index, file)| self.takes(*index, file.as_ref()))
            .map(|(_, file)| file.clone())
            .collect()
    }

    fn takes(&self, index: usize, file: &Path) -> bool {
        let position = match self.kind {
            PartitionKind::Count => index as u64,
            PartitionKind::Hash => path_hash(file),
        };
        position % self.total_shards == self.shard - 1
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            PartitionKind::Count => "count",
            PartitionKind::Hash => "hash",
        };
        write!(formatter, "{kind}:{}/{}", self.shard, self.total_shards)
    }
}

/// FNV-1a (64-bit) of the path's components joined by `/`, without a
/// leading `./`: the same number on every machine and operating system for
/// the same relative path, which is what keeps a CI shard's files the same
/// from run to run. FNV-1a is a few lines with published constants, so it
/// needs no dependency; its spread is plenty for picking shards.
fn path_hash(path: &Path) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    let mut first = true;
    for component in path.components() {
        if component == Component::CurDir {
            continue;
        }
        let bytes = match component {
            // The root is a separator of its own: `/a` hashes as "/a".
            Component::RootDir => b"".as_slice(),
            other => other.as_os_str().as_encoded_bytes(),
        };
        let separator = if first { b"".as_slice() } else { b"/" };
        first = false;
        for byte in separator.iter().chain(bytes) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn values_parse_as_nextest_reads_them() {
        assert_eq!(
            Partition::parse("hash:1/3").unwrap().to_string(),
            "hash:1/3"
        );
        assert_eq!(
            Partition::parse("count:3/3").unwrap().to_string(),
            "count:3/3"
        );
        assert_eq!(
            Partition::parse("count:1/1").unwrap().to_string(),
            "count:1/1"
        );
        for invalid in [
            "",
            "foo:1/2",
            "hash",
            "hash:",
            "hash:1",
            "hash:1/",
            "hash:0/3",
            "hash:4/3",
            "count:0/0",
            "count:1/0",
            "hash:m/2",
            "hash:1/n",
            "hash:1/2/3",
            "hash:-1/2",
        ] {
            assert!(Partition::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn the_hash_is_fnv1a_of_the_path_with_slashes() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(path_hash(Path::new("")), 0xcbf2_9ce4_8422_2325);
        assert_eq!(path_hash(Path::new("a")), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(path_hash(Path::new("foobar")), 0x8594_4171_f739_67e8);
        let plain = path_hash(Path::new("scenarios/remote-led/pair.yaml"));
        assert_eq!(
            path_hash(Path::new("./scenarios//remote-led/pair.yaml")),
            plain
        );
        assert_ne!(path_hash(Path::new("scenarios/remote-led")), plain);
    }

    #[test]
    fn the_shards_of_a_partition_cover_every_file_once() {
        let files: Vec<PathBuf> = (0..50)
            .map(|number| PathBuf::from(format!("scenarios/file_{number}.yaml")))
            .collect();
        for kind in ["count", "hash"] {
            let mut seen: Vec<PathBuf> = (1..=4)
                .flat_map(|shard| {
                    Partition::parse(&format!("{kind}:{shard}/4"))
                        .unwrap()
                        .select(&files)
                })
                .collect();
            seen.sort();
            let mut expected = files.clone();
            expected.sort();
            assert_eq!(seen, expected, "{kind}");
        }
        let odd = Partition::parse("count:1/2").unwrap().select(&files);
        assert_eq!(odd, files.iter().step_by(2).cloned().collect::<Vec<_>>());
    }
}

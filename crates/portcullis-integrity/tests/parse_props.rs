//! Property tests for the parsers of untrusted input: bundles and statements of any
//! shape are rejected with an error, never a panic, and resource names round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use portcullis_integrity::bundle::{parse_bundle, parse_statement, statement_json, Serialization};
use portcullis_integrity::manifest::{Manifest, Method, ResourceKey};
use proptest::prelude::*;

proptest! {
    #[test]
    fn bundle_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_bundle(&bytes);
        let _ = parse_statement(&bytes);
    }

    #[test]
    fn json_shaped_input_never_panics(s in r#"\{("[a-zA-Z_]{1,12}":("[a-z0-9/.:-]{0,20}"|[0-9]{1,5}|true|null|\[\]|\{\}),?){0,6}\}"#) {
        let _ = parse_bundle(s.as_bytes());
        let _ = parse_statement(s.as_bytes());
    }

    #[test]
    fn statements_round_trip(
        files in proptest::collection::btree_map(
            proptest::collection::vec("[a-zA-Z0-9_.-]{1,8}", 1..4),
            any::<[u8; 32]>(),
            1..8,
        ),
        shard in proptest::option::of(1u64..10_000),
        ignore in proptest::collection::vec("[a-z]{1,6}", 0..3),
    ) {
        let method = shard.map_or(Method::Files, |shard_size| Method::Shards { shard_size });
        let mut manifest = Manifest::default();
        for (path, digest) in files {
            // `.` and `..` are not file names a directory walk produces.
            if path.iter().any(|c| c == "." || c == "..") {
                continue;
            }
            let range = shard.map(|s| (0, s));
            manifest.items.insert(ResourceKey { path, range }, digest);
        }
        prop_assume!(!manifest.is_empty());
        let ser = Serialization { method, allow_symlinks: false, ignore_paths: ignore };
        let json = statement_json("model", &manifest, &ser);
        let parsed = parse_statement(&json).unwrap();
        prop_assert_eq!(&parsed.manifest, &manifest);
        prop_assert_eq!(parsed.serialization, ser);
        prop_assert_eq!(parsed.root_digest, manifest.root_digest());
    }
}

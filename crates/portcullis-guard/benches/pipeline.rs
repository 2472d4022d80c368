//! The whole input guard pipeline as the gateway runs it ([`Guards::check_input`] with
//! the default policy: PII and secret detection, normalization, injection rules and the
//! classifier, then pseudonymization and redaction) on a 1 KB prompt and a 16 KB
//! document; and the output guard on a non-streamed 4 KB answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use portcullis_guard::pseudo::Pseudonymizer;
use portcullis_guard::stream::guard_text;
use portcullis_guard::{GuardPolicy, Guards};

const PARAGRAPH: &str =
    "Our quarterly review covers the migration of the billing service to the new \
cluster. The team finished the database cut-over on Tuesday; latency stayed under the agreed \
budget and no customer tickets were opened. Next we will retire the old message queue, update \
the runbooks and schedule a game day. Questions can go to maria.lopez@example.org or to the \
on-call phone +1 415 555 0142. ";

fn text_of(len: usize) -> String {
    let mut s = String::with_capacity(len + PARAGRAPH.len());
    while s.len() < len {
        s.push_str(PARAGRAPH);
    }
    let mut cut = len;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

fn bench(c: &mut Criterion) {
    let guards = Guards::new().unwrap();
    let policy = GuardPolicy::defaults(guards.injection().thresholds());
    for (name, len) in [
        ("input_pipeline_1KB", 1024),
        ("input_pipeline_16KB", 16 * 1024),
    ] {
        let text = text_of(len);
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut t = text.clone();
                let mut pseudo = Pseudonymizer::new();
                let v = guards.check_input(&policy, &mut [&mut t], &mut pseudo);
                black_box((v, t))
            })
        });
    }
    let answer = text_of(4096);
    let scanner = guards.output_scanner(&policy, &[], None).unwrap();
    c.bench_function("output_guard_4KB_whole", |b| {
        b.iter(|| black_box(guard_text(&scanner, &policy.output, &answer)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! PII + secret detector speed on realistic 1 KB prompts and 16 KB documents:
//! prose with a few findings, code with a key, logs full of numbers and addresses, and
//! prose with no findings at all. Run: `cargo bench -p portcullis-guard --bench detect`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_guard::Detector;

const PROSE: &str = "Hi team, following up on yesterday's call with Dr. Maria Garcia about the \
refund. She asked us to send the paperwork to maria.garcia@example.com and said you can reach \
her on +44 20 7946 0958 after 5pm. The meeting moved to Thursday afternoon, so please update \
the calendar invite and let the Berlin office know. I attached the report from last week; the \
numbers for Q3 look better than expected, with revenue up 12.5% and churn down to 3.1%. Can you \
summarize the main points for the board deck and rewrite the intro so it sounds friendlier? \
Also, the customer mentioned order #4411-2093 was delayed twice, which we should explain. \
Thanks for the quick turnaround on this one, and let me know if anything is unclear.\n";

const CODE: &str = "import os\nimport requests\n\nBASE_URL = \"https://api.example.com/v1\"\n\
TIMEOUT = 30  # seconds\nclient = Client(api_key=\"sk-proj-Zx8vQ2mN4bR6tY1wK3pLq9Hs6Jf0Ga5Ue2Wd7\", timeout=TIMEOUT)\n\n\
def fetch_items(page: int = 1, per_page: int = 50) -> list[dict]:\n    \
\"\"\"Fetch one page of items; retries are handled by the session.\"\"\"\n    \
resp = requests.get(f\"{BASE_URL}/items\", params={\"page\": page, \"per_page\": per_page})\n    \
resp.raise_for_status()\n    return resp.json()[\"items\"]\n\n\
def main() -> None:\n    token = os.environ[\"API_TOKEN\"]\n    for page in range(1, 10):\n        \
items = fetch_items(page)\n        if not items:\n            break\n        for item in items:\n            \
print(item[\"id\"], item[\"name\"], item.get(\"version\", \"1.0.0\"))\n\n\
if __name__ == \"__main__\":\n    main()\n";

const LOGS: &str = "2025-03-14T09:26:53.412Z INFO accepted connection from 10.42.7.19:51234 request_id=5f1c2a9e-8b3d-4e7a-9c21-77ab03e4d2f1\n\
2025-03-14T09:26:53.415Z DEBUG GET /api/v2/orders/88123 status=200 dur=12ms build=4.12.3\n\
2025-03-14T09:26:54.001Z WARN upstream 192.168.3.44:8443 slow: p99=842.7ms retries=2\n\
2025-03-14T09:26:54.220Z INFO user=jdoe@corp.example.org action=login ok in 83ms\n\
2025-03-14T09:26:55.913Z ERROR commit 3f786850e387550fdab836ed7e6dc881de23001b failed health check\n\
2025-03-14T09:26:56.004Z INFO X-Forwarded-For: 203.0.113.7, 10.0.0.12 bytes=18234 ua=curl/8.4.0\n";

const CLEAN: &str = "The quick brown fox jumps over the lazy dog while the committee reviews the \
draft proposal for next year's budget. Please summarize the following paragraph in three \
sentences and keep the tone neutral. Our goal is to explain why the migration took longer \
than planned: the schema changes touched every service, the test suite needed new fixtures, \
and two teams were on holiday during the critical week. In the end the rollout went smoothly, \
nobody was paged, and the dashboards show lower latency across the board. Next steps are to \
remove the old code paths, update the documentation, and write a short retrospective that \
covers what went well and what we would change next time around.\n";

fn sized(base: &str, n: usize) -> String {
    let mut s = String::with_capacity(n + base.len());
    while s.len() < n {
        s.push_str(base);
    }
    let mut cut = n.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

fn bench(c: &mut Criterion) {
    let det = Detector::new().expect("detector builds");
    let mixed = format!("{PROSE}{CODE}{LOGS}{CLEAN}");
    let inputs = [
        ("prose", PROSE),
        ("code", CODE),
        ("logs", LOGS),
        ("clean", CLEAN),
        ("mixed", mixed.as_str()),
    ];
    for size in [1024usize, 16 * 1024] {
        let mut g = c.benchmark_group(format!("detect_{}k", size / 1024));
        g.throughput(Throughput::Bytes(size as u64));
        for (name, base) in inputs {
            let text = sized(base, size);
            let mut buf = Vec::new();
            g.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, t| {
                b.iter(|| {
                    det.detect_into(black_box(t), &mut buf);
                    black_box(buf.len())
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

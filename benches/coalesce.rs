//! Benchmarks of the worker's hot paths: merging a target's pending jobs,
//! and durably publishing to the embedded store (one publisher vs many
//! concurrent ones sharing group commits).

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use purgehook::action::{Action, ActionKind};
use purgehook::capability::Capabilities;
use purgehook::job::{Job, TargetId};
use purgehook::queue::EmbeddedQueue;
use purgehook::worker::coalesce::coalesce;

fn accept(_: &Action) -> Result<(), String> {
    Ok(())
}

const CLOUDFLARE_LIKE: Capabilities = Capabilities {
    provider: "cloudflare-like",
    kinds: &[],
    max_items: &[(ActionKind::Urls, 100)],
    check: accept,
    default_rate: None,
};

fn pending_jobs(count: usize) -> Vec<Action> {
    (0..count)
        .map(|i| match i % 4 {
            0 => Action::Urls {
                urls: vec![format!("https://a.example/p{}", i % 300)],
            },
            1 => Action::PostIds {
                post_ids: vec![(i % 500) as u64 + 1],
                related: i % 3 == 0,
            },
            2 => Action::Tags {
                tags: vec![format!("t{}", i % 50)],
            },
            _ => Action::Prefixes {
                prefixes: vec![format!("https://a.example/d{}/", i % 20)],
            },
        })
        .collect()
}

fn bench_coalesce(c: &mut Criterion) {
    for count in [10, 1000] {
        let jobs = pending_jobs(count);
        c.bench_function(&format!("coalesce {count} jobs"), |b| {
            b.iter(|| coalesce(black_box(&jobs), &CLOUDFLARE_LIKE))
        });
    }
}

fn job(i: usize) -> Job {
    Job::new(
        TargetId::new("blog").expect("a valid id"),
        Action::PostIds {
            post_ids: vec![i as u64 + 1],
            related: true,
        },
        None,
    )
}

/// Time per published job with `concurrency` publishers at once.
fn bench_publish(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("embedded publish (fsync'd)");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for concurrency in [1usize, 32] {
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = runtime
            .block_on(EmbeddedQueue::open(dir.path()))
            .expect("store opens");
        group.bench_function(
            format!("{concurrency} concurrent publishers, per job"),
            |b| {
                b.iter_custom(|iters| {
                    let queue = queue.clone();
                    runtime.block_on(async move {
                        let start = Instant::now();
                        let mut remaining = iters as usize;
                        while remaining > 0 {
                            let wave = remaining.min(concurrency);
                            let tasks: Vec<_> = (0..wave)
                                .map(|i| {
                                    let queue = queue.clone();
                                    tokio::spawn(async move { queue.publish(&[job(i)]).await })
                                })
                                .collect();
                            for task in tasks {
                                task.await.expect("task").expect("published");
                            }
                            remaining -= wave;
                        }
                        start.elapsed()
                    })
                })
            },
        );
        let stats = queue.stats();
        let (commits, requests) = (
            stats.commits.load(Ordering::Relaxed),
            stats.requests.load(Ordering::Relaxed),
        );
        println!(
            "  {concurrency} publishers: {requests} publishes in {commits} commits ({:.1} per fsync)",
            requests as f64 / commits.max(1) as f64
        );
    }
    group.finish();
}

criterion_group!(benches, bench_coalesce, bench_publish);
criterion_main!(benches);

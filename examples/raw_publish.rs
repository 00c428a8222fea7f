//! The broker's ceiling for confirmed publishing, as `benches/load.sh`
//! compares purgehook with it: one lapin connection and channel with
//! publisher confirms, persistent messages of a job's size to a quorum queue
//! of its own, at most IN_FLIGHT confirms outstanding (1,024 by default; 32
//! is what 32 concurrent webhooks can keep in flight), spread over
//! CONNECTIONS connections of one channel each (1 by default). Prints
//! `raw_publish msgs=N secs=S rate=R` and deletes its queue.
//!
//! ```sh
//! cargo run --release --example raw_publish -- [AMQP_URL] [MESSAGES] [BYTES] [IN_FLIGHT] [CONNECTIONS]
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let messages: usize = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let bytes: usize = args.next().map_or(Ok(400), |n| n.parse())?;
    let in_flight: usize = args.next().map_or(Ok(1024), |n| n.parse())?;

    let connections: usize = args.next().map_or(Ok(1), |n| n.parse())?;
    let connections = connections.max(1);

    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let queue = format!("raw-publish-{}", std::process::id());
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await?;

    let started = Instant::now();
    let mut publishers = Vec::new();
    for _ in 0..connections {
        let (url, queue) = (url.clone(), queue.clone());
        let share = (messages / connections, (in_flight / connections).max(1));
        publishers.push(tokio::spawn(async move {
            publish(&url, &queue, share.0, bytes, share.1)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    for publisher in publishers {
        publisher.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let sent = messages / connections * connections;
    println!(
        "raw_publish msgs={sent} in_flight={in_flight} connections={connections} secs={secs:.3} rate={:.0}",
        sent as f64 / secs
    );
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(())
}

/// Publishes `messages` to `queue` on a connection and confirm-mode channel
/// of its own, at most `in_flight` confirms outstanding.
async fn publish(
    url: &str,
    queue: &str,
    messages: usize,
    bytes: usize,
    in_flight: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let body = vec![b'x'; bytes];
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let mut pending = VecDeque::with_capacity(in_flight);
    for _ in 0..messages {
        if pending.len() >= in_flight
            && let Some(confirm) = pending.pop_front()
        {
            check(confirm).await?;
        }
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body,
                properties.clone(),
            )
            .await?;
        pending.push_back(confirm);
    }
    for confirm in pending {
        check(confirm).await?;
    }
    connection.close(200, "done".into()).await?;
    Ok(())
}

/// Fails on a confirm that is a nack.
async fn check(confirm: lapin::PublisherConfirm) -> Result<(), Box<dyn std::error::Error>> {
    if confirm.await?.is_nack() {
        return Err("the broker refused a message".into());
    }
    Ok(())
}

//! Integration tests, in one binary: the app on port 0 with the embedded
//! queue in a temporary directory, deliveries signed as the real senders sign
//! them, and local provider servers that answer as their documents say.

mod amqp;
mod cli;
mod cluster;
mod dedupe;
mod drain;
mod durability;
mod fakes;
mod follow_ups;
mod full_disk;
mod github_action;
mod group_commit;
mod helpers;
mod history;
mod history_pg;
mod hooks;
mod hostile;
mod hostile_limits;
mod observability;
mod operator;
mod outage;
mod pacing;
mod properties;
mod provider_failures;
mod providers;
mod proxy;
mod queue;
mod reload;
mod senders;
mod services;
mod status_page;
mod vocabulary;
mod wordpress;
mod worker;

//! Integration tests, in one binary: the app on port 0 with the embedded
//! queue in a temporary directory, deliveries signed as the real senders sign
//! them, and local provider servers that answer as their documents say.

mod amqp;
mod cli;
mod durability;
mod fakes;
mod helpers;
mod hooks;
mod hostile;
mod hostile_limits;
mod operator;
mod pacing;
mod properties;
mod provider_failures;
mod providers;
mod proxy;
mod queue;
mod vocabulary;
mod worker;

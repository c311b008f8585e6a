//! `faultline serve` over real TCP, one binary (link time): the brokers and hostile input
//! (`brokers`), the data path — codecs, headers, fetch limits, timestamps, DeleteRecords
//! (`serve_data`), and real clients: confluent-kafka, kafka-python and kcat
//! (`real_clients`), and confluent-kafka's transactions (`transactions`).

#[path = "../common/mod.rs"]
mod common;

mod brokers;
mod real_clients;
mod serve_data;
mod transactions;

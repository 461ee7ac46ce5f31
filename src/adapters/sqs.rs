//! The work queue (SQS), for fanning a fleet out one WorkSpace per message.

use crate::domain::model::WorkMessage;
use std::time::Duration;

use crate::error::AwsError;
use crate::ports::WorkQueue;

/// SendMessageBatch takes at most ten entries.
const BATCH: usize = 10;

pub struct SqsWorkQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsWorkQueue {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: String) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(sdk),
            queue_url,
        }
    }

    async fn send_batch(
        &self,
        messages: &[WorkMessage],
        delay_seconds: i32,
    ) -> Result<Vec<usize>, AwsError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(m).expect("work messages serialize"))
                    .set_delay_seconds((delay_seconds > 0).then_some(delay_seconds))
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| AwsError {
                service: "SQS",
                operation: "SendMessageBatch",
                detail: crate::error::chain(&e),
                retryable: true,
            })?;
        Ok(out
            .failed()
            .iter()
            .filter_map(|f| f.id().parse().ok())
            .collect())
    }
}

impl WorkQueue for SqsWorkQueue {
    async fn enqueue(&self, messages: &[WorkMessage], delay: Duration) -> Result<usize, AwsError> {
        // SQS delays a message by at most 15 minutes.
        let delay_seconds = delay.as_secs().min(900) as i32;
        for chunk in messages.chunks(BATCH) {
            let failed = self.send_batch(chunk, delay_seconds).await?;
            if failed.is_empty() {
                continue;
            }
            // Entries fail individually (throttling): send those once more.
            let again: Vec<WorkMessage> = failed.iter().map(|i| chunk[*i].clone()).collect();
            let still = self.send_batch(&again, delay_seconds).await?;
            if !still.is_empty() {
                return Err(AwsError {
                    service: "SQS",
                    operation: "SendMessageBatch",
                    detail: format!("{} message(s) were refused twice", still.len()),
                    retryable: true,
                });
            }
        }
        Ok(messages.len())
    }
}

//! A fixed-size pool of worker threads fed by a bounded queue (`std::sync::mpsc`).
//!
//! Owns: starting the workers, handing them items, refusing items when the queue is full
//! (the caller answers 503 rather than letting work pile up), and joining on drop.
//! Does not: grow, shrink, or restart a worker. A handler panic aborts the release build
//! (`panic = "abort"`) and the runtime restarts the container.

use std::io;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

pub struct ThreadPool<T> {
    sender: Option<SyncSender<T>>,
    workers: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> ThreadPool<T> {
    /// Starts `worker_count` threads that run `handler` on each item; at most
    /// `queue_length_max` items wait for a free worker.
    pub fn new<F>(worker_count: usize, queue_length_max: usize, handler: F) -> io::Result<Self>
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel::<T>(queue_length_max);
        let receiver = Arc::new(Mutex::new(receiver));
        let handler = Arc::new(handler);
        let mut workers = Vec::with_capacity(worker_count);
        for index in 0..worker_count {
            let receiver = Arc::clone(&receiver);
            let handler = Arc::clone(&handler);
            let worker = thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for an item, never while handling it.
                    let next = {
                        let guard = receiver.lock().unwrap_or_else(|poison| poison.into_inner());
                        guard.recv()
                    };
                    match next {
                        Ok(item) => handler(item),
                        Err(_) => break,
                    }
                })?;
            workers.push(worker);
        }
        Ok(ThreadPool {
            sender: Some(sender),
            workers,
        })
    }

    /// Queues `item`, or gives it back when the queue is full.
    pub fn try_submit(&self, item: T) -> Result<(), T> {
        let Some(sender) = &self.sender else {
            return Err(item);
        };
        sender.try_send(item).map_err(|error| match error {
            TrySendError::Full(item) | TrySendError::Disconnected(item) => item,
        })
    }
}

impl<T> Drop for ThreadPool<T> {
    /// Lets the workers finish the queue, then joins them.
    fn drop(&mut self) {
        self.sender.take();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn handles_every_item_and_joins_on_drop() {
        let total = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&total);
        let pool = ThreadPool::new(4, 200, move |value: usize| {
            counter.fetch_add(value, Ordering::SeqCst);
        })
        .unwrap();
        for value in 1..=100 {
            pool.try_submit(value).unwrap();
        }
        drop(pool);
        assert_eq!(total.load(Ordering::SeqCst), 5050);
    }

    #[test]
    fn refuses_items_when_the_queue_is_full() {
        let (started_sender, started) = mpsc::channel::<u32>();
        let (release, gate) = mpsc::channel::<()>();
        let started_sender = Mutex::new(started_sender);
        let gate = Mutex::new(gate);
        let pool = ThreadPool::new(1, 1, move |value: u32| {
            started_sender.lock().unwrap().send(value).unwrap();
            gate.lock().unwrap().recv().unwrap();
        })
        .unwrap();
        pool.try_submit(1).unwrap();
        assert_eq!(started.recv().unwrap(), 1); // the only worker is busy
        pool.try_submit(2).unwrap(); // fills the queue
        assert_eq!(pool.try_submit(3), Err(3));
        release.send(()).unwrap();
        release.send(()).unwrap();
        drop(pool);
        assert_eq!(started.recv().unwrap(), 2);
    }
}

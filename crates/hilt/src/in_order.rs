//! Work spread over threads, results handed over in the order of the
//! items, so that `hilt replay -j N` prints exactly what `-j 1` prints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `work` on every item on `jobs` threads and calls `consume` with
/// each result in the order of `items`, as soon as it and every result
/// before it are done. An error from `consume` stops the hand-out of items
/// (those already started are finished and dropped) and is returned.
///
/// With one job everything runs on the calling thread, one item after the
/// other, as it did before there were jobs.
pub fn for_each_in_order<Item, Output, Error>(
    items: &[Item],
    jobs: usize,
    work: impl Fn(&Item) -> Output + Sync,
    mut consume: impl FnMut(Output) -> Result<(), Error>,
) -> Result<(), Error>
where
    Item: Sync,
    Output: Send,
{
    let jobs = jobs.min(items.len());
    if jobs <= 1 {
        for item in items {
            consume(work(item))?;
        }
        return Ok(());
    }
    let next_item = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<(usize, Output)>();
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next_item, stopped, work) = (&next_item, &stopped, &work);
            scope.spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    let index = next_item.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    // The receiver is gone only when the consumer stopped.
                    if sender.send((index, work(item))).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the workers' senders are left, so the loop below ends when
        // they have all finished, even if one of them panicked (the scope
        // then passes the panic on).
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut next_to_consume = 0;
        for (index, output) in receiver {
            waiting.insert(index, output);
            while let Some(output) = waiting.remove(&next_to_consume) {
                next_to_consume += 1;
                if let Err(error) = consume(output) {
                    stopped.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn results_come_in_the_order_of_the_items_whatever_finishes_first() {
        // Item 0 cannot finish before item 1 has: the second worker must
        // take item 1 while the first waits, and item 0 is still handed
        // over first.
        let (finished_one, wait_for_one) = mpsc::channel::<()>();
        let wait_for_one = Mutex::new(wait_for_one);
        let finished_order = Mutex::new(Vec::new());
        let items: Vec<usize> = (0..8).collect();
        let mut consumed = Vec::new();
        for_each_in_order(
            &items,
            2,
            |item| {
                if *item == 0 {
                    wait_for_one.lock().unwrap().recv().unwrap();
                }
                finished_order.lock().unwrap().push(*item);
                if *item == 1 {
                    finished_one.send(()).unwrap();
                }
                item * 10
            },
            |output| {
                consumed.push(output);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(consumed, (0..8).map(|item| item * 10).collect::<Vec<_>>());
        assert_eq!(finished_order.lock().unwrap()[0], 1);
    }

    #[test]
    fn more_jobs_than_items_and_no_items_are_fine() {
        let mut consumed = Vec::new();
        for_each_in_order(
            &[1, 2, 3],
            16,
            |item| item + 1,
            |output| {
                consumed.push(output);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(consumed, [2, 3, 4]);
        let nothing: [u8; 0] = [];
        for_each_in_order(&nothing, 4, |_| unreachable!(), |()| Ok::<(), ()>(())).unwrap();
    }

    #[test]
    fn an_error_of_the_consumer_stops_the_run_and_is_returned() {
        let items: Vec<usize> = (0..100).collect();
        let mut consumed = Vec::new();
        let result = for_each_in_order(
            &items,
            3,
            |item| *item,
            |output| {
                consumed.push(output);
                if output == 4 { Err("stop") } else { Ok(()) }
            },
        );
        assert_eq!(result, Err("stop"));
        assert_eq!(consumed, [0, 1, 2, 3, 4]);
    }
}

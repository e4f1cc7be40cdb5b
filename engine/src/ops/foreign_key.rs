//! A foreign-key table-table join (Kafka's KIP-213 as ksqlDB 0.29 runs it,
//! engine/docs/ksqldb-joins.md section 6): a left table joined to a right table on an
//! expression over the left row equal to the right's primary key. The result is keyed by the
//! left primary key: a left change gives that key's row, a right change one row per left
//! row that references it, in the left keys' byte order.
//!
//! It runs as three operators, each keyed by what Kafka Streams keys the matching task by,
//! so that on Kafka each one's state splits by its own key and several instances compute
//! what one does:
//!
//! 1. `ForeignKeySubscribe`, by the left primary key (Kafka's subscription sender): keeps
//!    each left row's foreign key and turns a change into subscription messages, one to
//!    the foreign key the row now names and an unsubscription from the one it left.
//! 2. `ForeignKeyJoin`, by the foreign key, the right primary key (the subscription
//!    store and the right table): keeps the right rows and, per foreign key, the left rows
//!    subscribed to it; answers a subscription with the joined row and a right change with
//!    one row per subscriber.
//! 3. `ForeignKeyLatest`, by the left primary key (Kafka's response join, whose hash check
//!    drops an answer to an older value of the left row): each left change takes a version
//!    that grows per key group, every answer carries the version it answers, and answers
//!    of an older version than one already passed on are dropped. An answer from the
//!    foreign key a row left can reach it after the answer from the one it moved to, when
//!    both come through different partitions.
//!
//! On one instance the three run one after the other on each batch and give exactly what a
//! single operator would. The messages between them travel in the rows' extra columns, past
//! the query's width: a subscription carries what it asks, the left row's version and the
//! foreign key's bytes; an answer its version.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::expr::{Compiled, Context};
use crate::heap::HeapBytes;
use crate::ops::join::{check_widths, SavedRow, TableRows};
use crate::ops::{
    decode_group, encode_groups, Emit, GroupSnapshot, Operator, RowBatch, RowError, SnapshotError,
};
use crate::sql::ast::JoinKind;
use crate::state::{key_group, KeyGroup, RestoreError};
use crate::value::Value;

/// What a subscription message asks of the foreign key's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// Subscribe; answer only when the right row exists (an INNER insert).
    IfPresent = 0,
    /// Subscribe; answer in any case: the joined row, nulls (LEFT) or a tombstone (INNER).
    Always = 1,
    /// The left row is gone: answer with a tombstone.
    Delete = 2,
    /// The left row no longer names this foreign key.
    Unsubscribe = 3,
}

impl Ask {
    fn of(value: Option<&Value>) -> Option<Ask> {
        match value {
            Some(Value::Integer(0)) => Some(Ask::IfPresent),
            Some(Value::Integer(1)) => Some(Ask::Always),
            Some(Value::Integer(2)) => Some(Ask::Delete),
            Some(Value::Integer(3)) => Some(Ask::Unsubscribe),
            _ => None,
        }
    }
}

/// Where a foreign-key join's columns sit in the joined row.
#[derive(Debug, Clone)]
pub struct ForeignKeyShape {
    /// The left primary key's columns.
    pub left_key: Vec<usize>,
    /// The right primary key's column.
    pub right_key: usize,
    /// The left side's columns, then the right side's.
    pub columns: [Range<usize>; 2],
    /// How wide the joined rows are.
    pub width: usize,
}

impl ForeignKeyShape {
    /// Appends the left key's bytes (`Value::write_key` of each column), by which the left
    /// rows' state is keyed and routed.
    fn write_left_key(&self, row: &[Value], out: &mut Vec<u8>) {
        for &at in &self.left_key {
            row.get(at).unwrap_or(&Value::Null).write_key(out);
        }
    }

    /// The left key's bytes, as `write_left_key` writes them.
    fn left_key(&self, row: &[Value]) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_left_key(row, &mut bytes);
        bytes
    }

    /// The left key's order as Kafka serializes it (raw UTF-8 for strings, big-endian for
    /// numbers), which its prefix scans follow.
    fn left_key_order(&self, row: &[Value]) -> Vec<u8> {
        let mut order = Vec::new();
        for &at in &self.left_key {
            match row.get(at).unwrap_or(&Value::Null) {
                Value::String(s) => order.extend_from_slice(s.as_bytes()),
                Value::Integer(i) => order.extend_from_slice(&i.to_be_bytes()),
                other => other.write_key(&mut order),
            }
        }
        order
    }

    /// The column of a subscription message's ask; the version and the foreign key follow.
    fn ask_column(&self) -> usize {
        self.width
    }

    /// The column of an answer's version.
    fn version_column(&self) -> usize {
        self.width
    }
}

/// The three operators of a foreign-key join, in the order they run.
pub fn foreign_key_join(
    kind: JoinKind,
    foreign_key: Compiled,
    shape: ForeignKeyShape,
) -> [Box<dyn Operator>; 3] {
    [
        Box::new(ForeignKeySubscribe {
            kind,
            foreign_key,
            shape: shape.clone(),
            left: HashMap::new(),
            versions: BTreeMap::new(),
            next: RowBatch::new(),
        }),
        Box::new(ForeignKeyJoin {
            kind,
            shape: shape.clone(),
            right: HashMap::new(),
            subscribers: HashMap::new(),
            next: RowBatch::new(),
        }),
        Box::new(ForeignKeyLatest {
            shape,
            latest: HashMap::new(),
        }),
    ]
}

fn version_of(value: Option<&Value>) -> Option<u64> {
    match value {
        Some(Value::Integer(v)) => u64::try_from(*v).ok(),
        _ => None,
    }
}

/// What the subscription side keeps of a left row: the bytes of its foreign key (`None`
/// when null), whether its current value subscribed to that key (Kafka's subscription is
/// not renewed when the row's old or new foreign key is null, and a right-side change then
/// reaches it no more), and the version of its last change.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeftRow {
    foreign_key: Option<Vec<u8>>,
    live: bool,
    version: u64,
}

impl HeapBytes for LeftRow {
    fn heap_bytes(&self) -> usize {
        self.foreign_key.heap_bytes()
    }
}

/// One key group's part of `ForeignKeySubscribe`'s state.
#[derive(Default, Serialize, Deserialize)]
struct SubscribePart {
    rows: Vec<(Vec<u8>, LeftRow)>,
    /// The last version a change of a row in the group took.
    version: u64,
}

/// The left table's side of a foreign-key join, keyed by the left primary key. Rows of the
/// right input pass it by.
pub struct ForeignKeySubscribe {
    kind: JoinKind,
    /// The left side's ON expression, over the joined row.
    foreign_key: Compiled,
    shape: ForeignKeyShape,
    left: HashMap<Vec<u8>, LeftRow>,
    /// Per key group, the last version a change of one of its rows took. It never goes
    /// back, not even when a row is deleted and written again, so a key's versions grow
    /// with no state kept for deleted rows here.
    versions: BTreeMap<KeyGroup, u64>,
    next: RowBatch,
}

impl ForeignKeySubscribe {
    /// Appends a subscription message for `foreign_key`.
    fn send(&mut self, ask: Ask, foreign_key: &[u8], left: &[Value], message: (i64, u32, u64)) {
        let (time, origin, version) = message;
        let shape = &self.shape;
        let out = self.next.push(shape.width + 3, time, origin);
        out.iter_mut().for_each(|v| *v = Value::Null);
        out[shape.columns[0].clone()].clone_from_slice(left);
        out[shape.ask_column()] = Value::Integer(ask as i64);
        out[shape.ask_column() + 1] = Value::Integer(version as i64);
        out[shape.ask_column() + 2] = Value::Bytes(foreign_key.to_vec());
    }

    /// A change of the left table (Kafka's SubscriptionSendProcessorSupplier before
    /// KIP-962).
    fn change(&mut self, batch: &RowBatch, at: usize, emit: &mut Emit<'_>) {
        let row = batch.row(at);
        let (time, origin) = (batch.time(at), batch.origin(at));
        let key = self.shape.left_key(row);
        let version = self.versions.entry(key_group(&key)).or_insert(0);
        *version += 1;
        let version = *version;
        let message = (time, origin, version);
        let left_columns = row[self.shape.columns[0].clone()].to_vec();
        let new = !batch.is_delete(at);
        let new_fk = if new {
            let ctx = Context {
                row,
                rowtime: time,
                window: None,
                slots: &[],
            };
            match self.foreign_key.eval(&ctx) {
                Ok(Value::Null) => None,
                Ok(value) => {
                    let mut bytes = Vec::new();
                    value.write_key(&mut bytes);
                    Some(bytes)
                }
                Err(error) => {
                    emit.reject(origin, error);
                    None
                }
            }
        } else {
            None
        };
        let old = if new {
            self.left.insert(
                key.clone(),
                LeftRow {
                    foreign_key: new_fk.clone(),
                    live: false,
                    version,
                },
            )
        } else {
            self.left.remove(&key)
        };
        let old_live_fk = match &old {
            Some(LeftRow {
                foreign_key: Some(fk),
                live: true,
                ..
            }) => Some(fk.clone()),
            _ => None,
        };
        let (target, ask) = match (&old, new, &new_fk) {
            (None, false, _) => return,
            (Some(old), _, _) if old.foreign_key.is_none() => {
                // An old value without a foreign key: Kafka skips the record entirely.
                emit.reject(
                    origin,
                    RowError::Null {
                        what: "old foreign key",
                        consequence: "Kafka Streams skips the change of a left row whose previous foreign key is null",
                    },
                );
                return;
            }
            (_, true, None) => {
                emit.reject(
                    origin,
                    RowError::Null {
                        what: "foreign key",
                        consequence: "Kafka Streams skips a left row whose foreign key is null",
                    },
                );
                if let Some(old_fk) = old_live_fk {
                    self.send(Ask::Unsubscribe, &old_fk, &left_columns, message);
                }
                return;
            }
            (Some(old), false, _) => (old.foreign_key.clone(), Ask::Delete),
            (Some(_), true, Some(fk)) => (Some(fk.clone()), Ask::Always),
            (None, true, Some(fk)) => (
                Some(fk.clone()),
                if self.kind == JoinKind::Left {
                    Ask::Always
                } else {
                    Ask::IfPresent
                },
            ),
        };
        if let Some(old_fk) = old_live_fk {
            self.send(Ask::Unsubscribe, &old_fk, &left_columns, message);
        }
        let Some(target) = target else {
            return;
        };
        if ask != Ask::Delete {
            if let Some(row) = self.left.get_mut(&key) {
                row.live = true;
            }
        }
        self.send(ask, &target, &left_columns, message);
    }
}

impl Operator for ForeignKeySubscribe {
    fn name(&self) -> &'static str {
        "foreign_key_subscribe"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        if batch.input() != 0 {
            return;
        }
        self.next.clear();
        for at in 0..batch.len() {
            self.change(batch, at, emit);
        }
        batch.swap(&mut self.next);
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_size(&self) -> usize {
        self.left.len()
    }

    fn state_bytes(&self) -> usize {
        self.left.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, SubscribePart> = BTreeMap::new();
        for (&group, &version) in &self.versions {
            parts.entry(group).or_default().version = version;
        }
        for (key, row) in &self.left {
            parts
                .entry(key_group(key))
                .or_default()
                .rows
                .push((key.clone(), row.clone()));
        }
        encode_groups("foreign_key_subscribe", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        self.forget(&|group| groups.contains_key(&group));
        for (group, bytes) in groups {
            let part: SubscribePart = decode_group("foreign_key_subscribe", *group, bytes)?;
            self.versions.insert(*group, part.version);
            self.left.extend(part.rows);
        }
        Ok(())
    }

    fn splits_by_join_key(&self) -> bool {
        true
    }

    fn join_key(&self, input: usize, row: &[Value], _time: i64, key: &mut Vec<u8>) -> bool {
        if input != 0 {
            return false;
        }
        self.shape.write_left_key(row, key);
        true
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.left.retain(|key, _| !moved(key_group(key)));
        self.versions.retain(|group, _| !moved(*group));
    }

    fn split_earlier_form(
        &self,
        whole: &GroupSnapshot,
    ) -> Option<Result<Vec<GroupSnapshot>, RestoreError>> {
        Some(split_whole_state(whole, &self.shape).map(Vec::from))
    }
}

/// A left row subscribed to a foreign key: its key bytes, its columns, the time of the
/// record that wrote it and the version it answers for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Subscription {
    key: Vec<u8>,
    columns: Vec<Value>,
    time: i64,
    version: u64,
}

impl HeapBytes for Subscription {
    fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.columns.heap_bytes()
    }
}

/// One key group's part of `ForeignKeyJoin`'s state: the right rows and the subscriptions
/// of the foreign keys in the group.
#[derive(Default, Serialize, Deserialize)]
struct JoinPart {
    right: Vec<SavedRow>,
    subscriptions: Vec<(Vec<u8>, Vec<Subscribed>)>,
}

/// A subscription with its left key's order bytes.
type Subscribed = (Vec<u8>, Subscription);

/// The right table's side of a foreign-key join, keyed by the right primary key, which
/// subscription messages name as their foreign key.
pub struct ForeignKeyJoin {
    kind: JoinKind,
    shape: ForeignKeyShape,
    right: TableRows,
    /// The subscriptions to each foreign key, by their left key's order bytes (as Kafka's
    /// prefix scan returns them).
    subscribers: HashMap<Vec<u8>, BTreeMap<Vec<u8>, Subscription>>,
    next: RowBatch,
}

/// Appends the joined row of left columns `left` and the right row (or nulls), or a
/// tombstone for the left row's key, answering version `version`.
fn answer(
    next: &mut RowBatch,
    shape: &ForeignKeyShape,
    left: &[Value],
    right: Option<&[Value]>,
    tombstone: bool,
    (time, origin, version): (i64, u32, u64),
) {
    let out = next.push(shape.width + 1, time, origin);
    out.iter_mut().for_each(|v| *v = Value::Null);
    out[shape.columns[0].clone()].clone_from_slice(left);
    if let (Some(right), false) = (right, tombstone) {
        out[shape.columns[1].clone()].clone_from_slice(right);
    }
    out[shape.version_column()] = Value::Integer(version as i64);
    if tombstone {
        let last = next.len() - 1;
        next.set_delete(last);
    }
}

impl ForeignKeyJoin {
    /// A subscription message (Kafka's SubscriptionJoinProcessorSupplier).
    fn subscription(&mut self, batch: &RowBatch, at: usize, emit: &mut Emit<'_>) {
        let row = batch.row(at);
        let (time, origin) = (batch.time(at), batch.origin(at));
        let at_ask = self.shape.ask_column();
        let (Some(ask), Some(version), Some(Value::Bytes(foreign_key))) = (
            Ask::of(row.get(at_ask)),
            version_of(row.get(at_ask + 1)),
            row.get(at_ask + 2),
        ) else {
            emit.reject(
                origin,
                RowError::CorruptState("a foreign-key subscription without its ask"),
            );
            return;
        };
        let (key, order) = (self.shape.left_key(row), self.shape.left_key_order(row));
        let left = &row[self.shape.columns[0].clone()];
        if ask == Ask::Unsubscribe {
            if let Some(keys) = self.subscribers.get_mut(foreign_key) {
                keys.remove(&order);
                if keys.is_empty() {
                    self.subscribers.remove(foreign_key);
                }
            }
            return;
        }
        if ask != Ask::Delete {
            self.subscribers
                .entry(foreign_key.clone())
                .or_default()
                .insert(
                    order,
                    Subscription {
                        key,
                        columns: left.to_vec(),
                        time,
                        version,
                    },
                );
        }
        let right = self.right.get(foreign_key);
        let time = right.map_or(time, |(_, right_time)| time.max(*right_time));
        let message = (time, origin, version);
        let (next, shape) = (&mut self.next, &self.shape);
        match (ask, right) {
            (Ask::Delete, _) => answer(next, shape, left, None, true, message),
            (_, Some((right, _))) => answer(next, shape, left, Some(right), false, message),
            (Ask::IfPresent | Ask::Unsubscribe, None) => {}
            (Ask::Always, None) => {
                let tombstone = self.kind != JoinKind::Left;
                answer(next, shape, left, None, tombstone, message);
            }
        }
    }

    /// A change of the right table: one row per left row subscribed to its key, with the
    /// right record's time (Kafka's ForeignJoinSubscriptionProcessorSupplier).
    fn right_change(&mut self, batch: &RowBatch, at: usize) {
        let row = batch.row(at);
        let (time, origin) = (batch.time(at), batch.origin(at));
        let mut foreign_key = Vec::new();
        row[self.shape.right_key].write_key(&mut foreign_key);
        let new = (!batch.is_delete(at)).then(|| row[self.shape.columns[1].clone()].to_vec());
        match &new {
            Some(columns) => {
                self.right
                    .insert(foreign_key.clone(), (columns.clone(), time));
            }
            None => {
                self.right.remove(&foreign_key);
            }
        }
        let Some(subscribers) = self.subscribers.get(&foreign_key) else {
            return;
        };
        let tombstone = new.is_none() && self.kind != JoinKind::Left;
        for subscription in subscribers.values() {
            let message = (time, origin, subscription.version);
            answer(
                &mut self.next,
                &self.shape,
                &subscription.columns,
                new.as_deref(),
                tombstone,
                message,
            );
        }
    }
}

impl Operator for ForeignKeyJoin {
    fn name(&self) -> &'static str {
        "foreign_key_join"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        let right = match batch.input() {
            0 => false,
            1 => true,
            _ => return,
        };
        self.next.clear();
        for at in 0..batch.len() {
            if right {
                self.right_change(batch, at);
            } else {
                self.subscription(batch, at, emit);
            }
        }
        batch.swap(&mut self.next);
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_size(&self) -> usize {
        self.right.len()
    }

    fn state_bytes(&self) -> usize {
        self.right.heap_bytes() + self.subscribers.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, JoinPart> = BTreeMap::new();
        for (key, (row, time)) in &self.right {
            parts
                .entry(key_group(key))
                .or_default()
                .right
                .push((key.clone(), row.clone(), *time));
        }
        for (foreign_key, subscriptions) in &self.subscribers {
            parts
                .entry(key_group(foreign_key))
                .or_default()
                .subscriptions
                .push((
                    foreign_key.clone(),
                    subscriptions
                        .iter()
                        .map(|(order, s)| (order.clone(), s.clone()))
                        .collect(),
                ));
        }
        encode_groups("foreign_key_join", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        self.forget(&|group| groups.contains_key(&group));
        for (group, bytes) in groups {
            let part: JoinPart = decode_group("foreign_key_join", *group, bytes)?;
            let [left, right] = [self.shape.columns[0].len(), self.shape.columns[1].len()];
            check_widths(
                "foreign_key_join",
                *group,
                part.right.iter().map(|(_, row, _)| row.len()),
                right,
            )?;
            check_widths(
                "foreign_key_join",
                *group,
                part.subscriptions
                    .iter()
                    .flat_map(|(_, s)| s.iter().map(|(_, s)| s.columns.len())),
                left,
            )?;
            self.right.extend(
                part.right
                    .into_iter()
                    .map(|(key, row, time)| (key, (row, time))),
            );
            for (foreign_key, subscriptions) in part.subscriptions {
                self.subscribers
                    .entry(foreign_key)
                    .or_default()
                    .extend(subscriptions);
            }
        }
        Ok(())
    }

    fn splits_by_join_key(&self) -> bool {
        true
    }

    fn joined_input(&self) -> Option<usize> {
        Some(1)
    }

    fn join_key(&self, input: usize, row: &[Value], _time: i64, key: &mut Vec<u8>) -> bool {
        match input {
            0 => match row.get(self.shape.ask_column() + 2) {
                Some(Value::Bytes(foreign_key)) => {
                    key.extend_from_slice(foreign_key);
                    true
                }
                _ => false,
            },
            1 => match row.get(self.shape.right_key) {
                Some(value) => {
                    value.write_key(key);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.right.retain(|key, _| !moved(key_group(key)));
        self.subscribers.retain(|key, _| !moved(key_group(key)));
    }
}

/// The last step of a foreign-key join, keyed by the left primary key: passes each answer
/// on unless a newer version of its left row was answered before it.
pub struct ForeignKeyLatest {
    shape: ForeignKeyShape,
    /// The newest version answered per left key. Kept for deleted rows too: an answer to
    /// a value from before the delete may still be on its way from another partition.
    latest: HashMap<Vec<u8>, u64>,
}

impl Operator for ForeignKeyLatest {
    fn name(&self) -> &'static str {
        "foreign_key_latest"
    }

    fn process(&mut self, batch: &mut RowBatch, emit: &mut Emit<'_>) {
        let Self { shape, latest } = self;
        let mut corrupt = Vec::new();
        batch.retain_mut(|row, _, origin| {
            let Some(version) = version_of(row.get(shape.version_column())) else {
                corrupt.push(origin);
                return false;
            };
            let key = shape.left_key(row);
            let newest = latest.entry(key).or_insert(0);
            if version < *newest {
                return false;
            }
            *newest = version;
            row.truncate(shape.width);
            true
        });
        for origin in corrupt {
            emit.reject(
                origin,
                RowError::CorruptState("a foreign-key join's answer without its version"),
            );
        }
    }

    fn takes_deletes(&self) -> bool {
        true
    }

    fn state_bytes(&self) -> usize {
        self.latest.heap_bytes()
    }

    fn snapshot(&self) -> Result<GroupSnapshot, SnapshotError> {
        let mut parts: BTreeMap<KeyGroup, Vec<(Vec<u8>, u64)>> = BTreeMap::new();
        for (key, version) in &self.latest {
            parts
                .entry(key_group(key))
                .or_default()
                .push((key.clone(), *version));
        }
        encode_groups("foreign_key_latest", parts)
    }

    fn restore(&mut self, groups: &GroupSnapshot) -> Result<(), RestoreError> {
        self.forget(&|group| groups.contains_key(&group));
        for (group, bytes) in groups {
            let part: Vec<(Vec<u8>, u64)> = decode_group("foreign_key_latest", *group, bytes)?;
            self.latest.extend(part);
        }
        Ok(())
    }

    fn splits_by_join_key(&self) -> bool {
        true
    }

    fn join_key(&self, _input: usize, row: &[Value], _time: i64, key: &mut Vec<u8>) -> bool {
        self.shape.write_left_key(row, key);
        true
    }

    fn forget(&mut self, moved: &dyn Fn(KeyGroup) -> bool) {
        self.latest.retain(|key, _| !moved(key_group(key)));
    }
}

/// A left row in the snapshot of the single operator foreign-key joins ran as before they
/// ran as three: its columns, the time of the record that wrote it, its foreign key and
/// whether it was subscribed.
#[derive(Deserialize)]
struct WholeLeftRow {
    columns: Vec<Value>,
    time: i64,
    foreign_key: Option<Vec<u8>>,
    live: bool,
}

/// One key group of that snapshot: the left rows by their primary key's group, the right
/// rows by theirs.
#[derive(Deserialize)]
struct WholePart {
    left: Vec<(Vec<u8>, WholeLeftRow)>,
    right: Vec<SavedRow>,
}

/// Splits the state a checkpoint of the single-operator form holds into the three
/// operators' states: the left rows' foreign keys, the right rows with the subscriptions,
/// and no versions yet (every left row at version 0).
pub fn split_whole_state(
    whole: &GroupSnapshot,
    shape: &ForeignKeyShape,
) -> Result<[GroupSnapshot; 3], RestoreError> {
    let mut subscribe: BTreeMap<KeyGroup, SubscribePart> = BTreeMap::new();
    let mut join: BTreeMap<KeyGroup, BTreeMap<Vec<u8>, Vec<Subscribed>>> = BTreeMap::new();
    let mut right: BTreeMap<KeyGroup, Vec<SavedRow>> = BTreeMap::new();
    for (group, bytes) in whole {
        let part: WholePart = decode_group("foreign_key_join", *group, bytes)?;
        for (key, row) in part.left {
            if let (Some(foreign_key), true) = (&row.foreign_key, row.live) {
                let mut joined = vec![Value::Null; shape.width];
                if let Some(place) = joined.get_mut(shape.columns[0].clone()) {
                    if place.len() == row.columns.len() {
                        place.clone_from_slice(&row.columns);
                    }
                }
                let order = shape.left_key_order(&joined);
                join.entry(key_group(foreign_key))
                    .or_default()
                    .entry(foreign_key.clone())
                    .or_default()
                    .push((
                        order,
                        Subscription {
                            key: key.clone(),
                            columns: row.columns,
                            time: row.time,
                            version: 0,
                        },
                    ));
            }
            subscribe.entry(*group).or_default().rows.push((
                key,
                LeftRow {
                    foreign_key: row.foreign_key,
                    live: row.live,
                    version: 0,
                },
            ));
        }
        right.entry(*group).or_default().extend(part.right);
    }
    let mut parts: BTreeMap<KeyGroup, JoinPart> = BTreeMap::new();
    for (group, rows) in right {
        parts.entry(group).or_default().right = rows;
    }
    for (group, subscriptions) in join {
        parts.entry(group).or_default().subscriptions = subscriptions.into_iter().collect();
    }
    let encode = |e: SnapshotError| RestoreError(e.to_string());
    Ok([
        encode_groups("foreign_key_subscribe", subscribe).map_err(encode)?,
        encode_groups("foreign_key_join", parts).map_err(encode)?,
        GroupSnapshot::new(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Outputs;

    /// A change of one side: (input, key, foreign key or right value, time); `None` deletes.
    type Change = (usize, &'static str, Option<&'static str>, i64);

    const WIDTH: usize = 5;

    /// Left: ID, FK, V; right: RID, W.
    fn shape() -> ForeignKeyShape {
        ForeignKeyShape {
            left_key: vec![0],
            right_key: 3,
            columns: [0..3, 3..5],
            width: WIDTH,
        }
    }

    fn join(kind: JoinKind) -> [Box<dyn Operator>; 3] {
        foreign_key_join(kind, Compiled::Column(1), shape())
    }

    fn change_batch(&(input, key, value, time): &Change) -> RowBatch {
        let mut batch = RowBatch::new();
        batch.set_input(input);
        let row = batch.push(WIDTH, time, 0);
        row.iter_mut().for_each(|v| *v = Value::Null);
        let text = |s: &str| Value::String(s.into());
        if input == 0 {
            row[0] = text(key);
            if let Some(fk) = value {
                row[1] = text(fk);
                row[2] = text("v");
            }
        } else {
            row[3] = text(key);
            if let Some(w) = value {
                row[4] = text(w);
            }
        }
        if value.is_none() {
            batch.set_delete(0);
        }
        batch
    }

    /// Runs the changes one batch each through the three operators; the rows passed on,
    /// as (row, delete, time).
    fn drive(ops: &mut [Box<dyn Operator>], changes: &[Change]) -> Vec<(Vec<Value>, bool, i64)> {
        let mut seen = Vec::new();
        let (mut out, mut rejected) = (Outputs::new(), Vec::new());
        for change in changes {
            let mut batch = change_batch(change);
            let mut emit = Emit {
                out: &mut out,
                rejected: &mut rejected,
            };
            for op in ops.iter_mut() {
                op.process(&mut batch, &mut emit);
            }
            for at in 0..batch.len() {
                seen.push((batch.row(at).clone(), batch.is_delete(at), batch.time(at)));
            }
        }
        seen
    }

    fn text(s: &str) -> Value {
        Value::String(s.into())
    }

    /// A foreign-key join restored from a snapshot taken half way goes on as the one that
    /// ran through: the subscriptions come back with the rows.
    #[test]
    fn a_restored_foreign_key_join_goes_on_as_before() {
        let first: [Change; 5] = [
            (1, "r1", Some("one"), 1),
            (0, "a", Some("r1"), 2),
            (0, "b", Some("r2"), 3),
            (0, "c", Some("r1"), 4),
            (1, "r2", Some("two"), 5),
        ];
        let then: [Change; 5] = [
            (1, "r1", Some("uno"), 6),
            (0, "a", Some("r2"), 7),
            (1, "r1", None, 8),
            (0, "c", None, 9),
            (1, "r2", Some("dos"), 10),
        ];
        for kind in [JoinKind::Inner, JoinKind::Left] {
            let mut through = join(kind);
            drive(&mut through, &first);
            let mut restored = join(kind);
            for (op, from) in restored.iter_mut().zip(&through) {
                let snapshot = from.snapshot().expect("a snapshot");
                op.restore(&snapshot).expect("restored");
                assert_eq!(op.state_size(), from.state_size());
            }
            let want = drive(&mut through, &then);
            let got = drive(&mut restored, &then);
            assert!(want.len() >= 5, "{kind:?}: {want:?}");
            assert_eq!(got, want, "{kind:?}");
        }
    }

    /// Runs each operator's messages one at a time, in the order `order` picks among those
    /// waiting, as partitions of the repartition topics may hand them over.
    fn answers_out_of_order(kind: JoinKind, changes: &[Change]) -> Vec<(Vec<Value>, bool)> {
        let [mut subscribe, mut join, mut latest] = join(kind);
        let (mut out, mut rejected) = (Outputs::new(), Vec::new());
        let mut emit = Emit {
            out: &mut out,
            rejected: &mut rejected,
        };
        let mut answers = Vec::new();
        let mut passed = Vec::new();
        for change in changes {
            let mut batch = change_batch(change);
            subscribe.process(&mut batch, &mut emit);
            // Each message, and each right change, by itself through the join.
            for at in 0..batch.len() {
                let mut one = RowBatch::new();
                one.set_input(batch.input());
                let width = batch.row(at).len();
                *one.push(width, batch.time(at), 0) = batch.row(at).clone();
                if batch.is_delete(at) {
                    one.set_delete(0);
                }
                join.process(&mut one, &mut emit);
                for at in 0..one.len() {
                    answers.push((one.row(at).clone(), one.is_delete(at)));
                }
            }
        }
        // The answers reach the last step newest first.
        for (row, delete) in answers.into_iter().rev() {
            let mut one = RowBatch::new();
            let width = row.len();
            *one.push(width, 0, 0) = row;
            if delete {
                one.set_delete(0);
            }
            latest.process(&mut one, &mut emit);
            for at in 0..one.len() {
                passed.push((one.row(at).clone(), one.is_delete(at)));
            }
        }
        passed
    }

    /// An answer from the foreign key a row left, reaching the last step after the answer
    /// from the key it moved to, is dropped: the row ends joined to its new key's row.
    #[test]
    fn an_answer_to_an_older_value_is_dropped() {
        let changes: [Change; 4] = [
            (1, "r1", Some("one"), 1),
            (1, "r2", Some("two"), 2),
            (0, "a", Some("r1"), 3),
            (0, "a", Some("r2"), 4),
        ];
        let passed = answers_out_of_order(JoinKind::Inner, &changes);
        assert_eq!(
            passed,
            vec![(
                vec![text("a"), text("r2"), text("v"), text("r2"), text("two")],
                false
            )]
        );
    }

    /// A checkpoint of the single-operator form restores into the three operators, which
    /// go on as that operator did.
    #[test]
    fn a_checkpoint_of_the_single_operator_form_restores_into_the_three() {
        #[derive(Serialize)]
        struct OldRow {
            columns: Vec<Value>,
            time: i64,
            foreign_key: Option<Vec<u8>>,
            live: bool,
        }
        #[derive(Serialize)]
        struct OldPart {
            left: Vec<(Vec<u8>, OldRow)>,
            right: Vec<SavedRow>,
        }
        let key = |s: &str| {
            let mut bytes = Vec::new();
            text(s).write_key(&mut bytes);
            bytes
        };
        // a -> r1 (subscribed), r1 = one.
        let mut parts: BTreeMap<KeyGroup, OldPart> = BTreeMap::new();
        parts
            .entry(key_group(&key("a")))
            .or_insert_with(|| OldPart {
                left: Vec::new(),
                right: Vec::new(),
            })
            .left
            .push((
                key("a"),
                OldRow {
                    columns: vec![text("a"), text("r1"), text("v")],
                    time: 2,
                    foreign_key: Some(key("r1")),
                    live: true,
                },
            ));
        parts
            .entry(key_group(&key("r1")))
            .or_insert_with(|| OldPart {
                left: Vec::new(),
                right: Vec::new(),
            })
            .right
            .push((key("r1"), vec![text("r1"), text("one")], 1));
        let whole = encode_groups("foreign_key_join", parts).expect("encoded");
        let states = split_whole_state(&whole, &shape()).expect("split");
        let mut restored = join(JoinKind::Inner);
        for (op, state) in restored.iter_mut().zip(&states) {
            op.restore(state).expect("restored");
        }
        let mut through = join(JoinKind::Inner);
        drive(
            &mut through,
            &[(1, "r1", Some("one"), 1), (0, "a", Some("r1"), 2)],
        );
        let then: [Change; 2] = [(1, "r1", Some("uno"), 3), (0, "a", None, 4)];
        let want = drive(&mut through, &then);
        assert_eq!(want.len(), 2, "{want:?}");
        assert_eq!(drive(&mut restored, &then), want);
    }
}

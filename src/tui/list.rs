//! The trace list's window onto a snapshot of possibly millions of rows: pages of
//! [`PAGE_SIZE`] are loaded around the viewport and evicted when far from it, so memory
//! stays flat however deep the operator scrolls.

use std::collections::BTreeMap;

use super::data::{PAGE_SIZE, Request, Seek};
use super::filter::FilterSpec;
use crate::store::query::TraceFilter;
use crate::store::query::TraceRow;

/// Pages kept on each side of the selection's page.
const KEEP_PAGES: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct ListState {
    /// Bumped on every new snapshot; replies for older ones are dropped.
    pub generation: u64,
    pub spec: FilterSpec,
    pub filter: TraceFilter,
    /// The snapshot's newest row id; `None` until the first page arrived.
    pub max_pk: Option<i64>,
    pub pages: BTreeMap<usize, Vec<TraceRow>>,
    /// The page requested and not yet back.
    pub pending: Option<usize>,
    /// Rows in the snapshot, once counted.
    pub count: Option<usize>,
    /// The length, once a short page showed where the list ends.
    pub end: Option<usize>,
    /// Matching rows that arrived after the snapshot.
    pub new_rows: usize,
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
    /// Waiting for the count to jump to the bottom.
    pub bottom_pending: bool,
}

impl ListState {
    /// Starts a new snapshot under `filter`: the request that loads its first page.
    pub fn rebase(&mut self, spec: FilterSpec, filter: TraceFilter) -> Request {
        *self = ListState {
            generation: self.generation + 1,
            spec,
            filter: filter.clone(),
            ..ListState::default()
        };
        self.pending = Some(0);
        Request::Rebase {
            generation: self.generation,
            filter,
        }
    }

    /// The known length: counted, or where a short page ended, or what is loaded so far.
    pub fn len(&self) -> usize {
        self.count.or(self.end).unwrap_or_else(|| {
            self.pages
                .iter()
                .next_back()
                .map_or(0, |(p, rows)| p * PAGE_SIZE + rows.len())
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> Option<&TraceRow> {
        self.pages.get(&(i / PAGE_SIZE))?.get(i % PAGE_SIZE)
    }

    pub fn selected_row(&self) -> Option<&TraceRow> {
        self.row(self.selected)
    }

    /// Stores a page; a short page marks the end of the list.
    pub fn store(&mut self, page: usize, rows: Vec<TraceRow>) {
        if self.pending == Some(page) {
            self.pending = None;
        }
        if rows.len() < PAGE_SIZE {
            self.end = Some(page * PAGE_SIZE + rows.len());
        }
        self.pages.insert(page, rows);
        let here = self.selected / PAGE_SIZE;
        self.pages.retain(|p, _| p.abs_diff(here) <= KEEP_PAGES);
    }

    /// Moves the selection to `i` (clamped) and keeps it within a viewport of `height`.
    /// While the length is unknown the selection may run one page past what is loaded.
    pub fn select(&mut self, i: usize, height: usize) {
        let limit = match self.count.or(self.end) {
            Some(n) => n,
            None => self.len() + usize::from(self.max_pk.is_some()) * PAGE_SIZE,
        };
        self.selected = i.min(limit.saturating_sub(1));
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
    }

    /// The next page to load for a viewport of `height`, if one is missing.
    pub fn next_request(&mut self, height: usize) -> Option<Request> {
        let max_pk = self.max_pk?;
        let page = self.missing_page(height)?;
        if self.pending == Some(page) {
            return None;
        }
        self.pending = Some(page);
        Some(Request::Page {
            generation: self.generation,
            filter: self.filter.clone(),
            max_pk,
            page,
            seek: self.seek(page),
        })
    }

    /// The missing page nearest the selection among those the viewport (plus half a page
    /// either side) touches.
    fn missing_page(&self, height: usize) -> Option<usize> {
        let first = self.offset.saturating_sub(PAGE_SIZE / 2) / PAGE_SIZE;
        let mut last = (self.offset + height + PAGE_SIZE / 2) / PAGE_SIZE;
        if let Some(n) = self.count.or(self.end) {
            last = last.min(n.saturating_sub(1) / PAGE_SIZE);
        }
        let here = self.selected / PAGE_SIZE;
        (first..=last)
            .filter(|p| !self.pages.contains_key(p))
            .min_by_key(|p| p.abs_diff(here))
    }

    /// Keyset from a loaded neighbour when possible: cheap at any depth.
    fn seek(&self, page: usize) -> Seek {
        let before = page.checked_sub(1).and_then(|p| self.pages.get(&p));
        if let Some(last) = before
            .filter(|r| r.len() == PAGE_SIZE)
            .and_then(|r| r.last())
        {
            return Seek::After(last.key());
        }
        if let Some(first) = self.pages.get(&(page + 1)).and_then(|r| r.first()) {
            return Seek::Before(first.key());
        }
        Seek::Offset(page * PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    fn rows(from: i64, n: usize) -> Vec<TraceRow> {
        (0..n as i64)
            .map(|i| fixtures::trace_row(from + i, 1_000_000 - from - i))
            .collect()
    }

    fn loaded() -> ListState {
        let mut l = ListState::default();
        l.rebase(FilterSpec::default(), TraceFilter::default());
        l.max_pk = Some(1_000_000);
        l.store(0, rows(0, PAGE_SIZE));
        l
    }

    #[test]
    fn scrolling_past_a_page_asks_for_the_next_by_key() {
        let mut l = loaded();
        assert_eq!(l.next_request(20), None, "page 0 covers the viewport");
        l.select(190, 20);
        let Some(Request::Page { page, seek, .. }) = l.next_request(20) else {
            panic!("expected a page request");
        };
        assert_eq!(page, 1);
        assert_eq!(seek, Seek::After(l.row(PAGE_SIZE - 1).unwrap().key()));
        assert_eq!(l.next_request(20), None, "single flight");
    }

    #[test]
    fn jumping_far_uses_an_offset_and_evicts_distant_pages() {
        let mut l = loaded();
        l.count = Some(1_000_000);
        l.select(999_999, 20);
        let Some(Request::Page { page, seek, .. }) = l.next_request(20) else {
            panic!("expected a page request");
        };
        assert_eq!(page, 4999);
        assert_eq!(seek, Seek::Offset(4999 * PAGE_SIZE));
        l.store(4999, rows(999_800, PAGE_SIZE));
        assert!(!l.pages.contains_key(&0), "page 0 is far away now");
        l.select(999_700, 20);
        let Some(Request::Page { page, seek, .. }) = l.next_request(20) else {
            panic!("expected a page request");
        };
        assert_eq!(page, 4998);
        assert!(matches!(seek, Seek::Before(_)));
    }

    #[test]
    fn a_short_page_ends_the_list() {
        let mut l = loaded();
        l.store(1, rows(PAGE_SIZE as i64, 5));
        assert_eq!(l.len(), PAGE_SIZE + 5);
        l.select(10_000, 20);
        assert_eq!(l.selected, PAGE_SIZE + 4);
    }

    #[test]
    fn rebase_starts_a_new_generation() {
        let mut l = loaded();
        let g = l.generation;
        let req = l.rebase(FilterSpec::default(), TraceFilter::default());
        assert!(matches!(req, Request::Rebase { generation, .. } if generation == g + 1));
        assert!(l.pages.is_empty());
    }
}

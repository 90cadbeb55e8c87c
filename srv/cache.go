package srv

import (
	"container/list"
	"sync"
	"time"
)

// cache is a bounded least-recently-used cache of parsed answers, keyed by
// question, each valid until its expiry. It is safe for concurrent use.
type cache struct {
	max int

	mu      sync.Mutex
	lru     *list.List // of *cacheEntry, most recently used first
	entries map[question]*list.Element
}

type cacheEntry struct {
	q       question
	res     result
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, lru: list.New(), entries: make(map[question]*list.Element)}
}

// get returns the unexpired result for q.
func (c *cache) get(q question, now time.Time) (result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[q]
	if !ok {
		return result{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, q)
		return result{}, false
	}
	c.lru.MoveToFront(el)
	return e.res, true
}

// put stores res for q until expires, evicting the least recently used entry
// when the cache is full.
func (c *cache) put(q question, res result, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[q]; ok {
		e := el.Value.(*cacheEntry)
		e.res, e.expires = res, expires
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).q)
	}
	c.entries[q] = c.lru.PushFront(&cacheEntry{q: q, res: res, expires: expires})
}

// len returns the number of entries, expired or not.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

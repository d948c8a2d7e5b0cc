package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// verifyPages checks the page structure of a bbolt file before bbolt itself
// walks it. bbolt trusts every page it reaches through its memory map: a
// damaged page makes it panic, read outside the map (a fatal fault, not a
// panic), or loop when a page refers back to an ancestor. This walk reads
// the file with ReadAt instead, and checks what bbolt's own reads rely on:
// every reachable page is inside the file, is referenced once (no cycles),
// has the type its parent expects, and keeps its elements, keys and values
// inside its bounds; so does the freelist. It follows the bbolt file format
// (version 2): a 16-byte page header (id, flags, count, overflow), 16-byte
// branch elements (pos, ksize, pgid) and leaf elements (flags, pos, ksize,
// vsize), bucket values made of a root page ID and a sequence, followed by
// an inline leaf page when the root is 0.
//
// It stops at the first problem. Logical checks (key order, freed pages
// that are still reachable) are bbolt's tx.Check, run afterwards on a
// file this walk has shown to be safe to map.
func verifyPages(r io.ReaderAt, size int64, pageSize int) error {
	w := pageWalker{r: r, size: size, pageSize: uint64(pageSize), seen: map[uint64]bool{}}
	m, err := w.meta()
	if err != nil {
		return err
	}
	w.hwm = m.pgid
	if need := w.hwm * w.pageSize; need > uint64(size) {
		return fmt.Errorf("truncated: the file is %d bytes but its pages reach %d bytes", size, need)
	}
	w.seen[0], w.seen[1] = true, true
	if err := w.walk(m.root); err != nil {
		return err
	}
	return w.freelist(m.freelist)
}

const (
	pageHeaderSize  = 16
	pageElementSize = 16
	bucketHeader    = 16
	flagBranch      = 0x01
	flagLeaf        = 0x02
	flagFreelist    = 0x10
	flagBucketEntry = 0x01
	noFreelist      = ^uint64(0)
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
)

// bbolt writes its structures in the machine's byte order.
var native = binary.NativeEndian

type pageWalker struct {
	r        io.ReaderAt
	size     int64
	pageSize uint64
	hwm      uint64 // pages below it are in use or free
	seen     map[uint64]bool
}

type metaPage struct {
	root, freelist, pgid, txid uint64
}

// meta returns the meta page bbolt uses: the valid one with the higher
// transaction ID.
func (w *pageWalker) meta() (metaPage, error) {
	var best metaPage
	found := false
	for i := uint64(0); i < 2; i++ {
		buf := make([]byte, 80)
		if _, err := w.r.ReadAt(buf, int64(i*w.pageSize)); err != nil {
			continue
		}
		if native.Uint32(buf[16:]) != boltMagic || native.Uint32(buf[20:]) != boltVersion {
			continue
		}
		h := fnv.New64a()
		h.Write(buf[16:72])
		if h.Sum64() != native.Uint64(buf[72:]) {
			continue
		}
		m := metaPage{root: native.Uint64(buf[32:]), freelist: native.Uint64(buf[48:]),
			pgid: native.Uint64(buf[56:]), txid: native.Uint64(buf[64:])}
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	if !found {
		return best, errors.New("no valid meta page")
	}
	return best, nil
}

// page reads page id (with its overflow pages) after checking that it is
// inside the file and not referenced before.
func (w *pageWalker) page(id uint64, parent string) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("%s refers to page %d, outside the pages in use [2, %d)", parent, id, w.hwm)
	}
	head := make([]byte, pageHeaderSize)
	if _, err := w.r.ReadAt(head, int64(id*w.pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := native.Uint64(head); got != id {
		return nil, fmt.Errorf("page %d identifies itself as page %d", id, got)
	}
	overflow := uint64(native.Uint32(head[12:]))
	if id+overflow >= w.hwm {
		return nil, fmt.Errorf("page %d runs past the pages in use (%d overflow pages)", id, overflow)
	}
	for p := id; p <= id+overflow; p++ {
		if w.seen[p] {
			return nil, fmt.Errorf("page %d is referenced twice (from %s)", p, parent)
		}
		w.seen[p] = true
	}
	buf := make([]byte, (overflow+1)*w.pageSize)
	if _, err := w.r.ReadAt(buf, int64(id*w.pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	return buf, nil
}

// walk checks the tree of the bucket whose root page is root, and the
// trees of its sub-buckets. It keeps its own stack: a file's depth is not
// bounded by anything but its size.
func (w *pageWalker) walk(root uint64) error {
	type ref struct {
		id     uint64
		parent string
	}
	stack := []ref{{root, "the meta page"}}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		buf, err := w.page(r.id, r.parent)
		if err != nil {
			return err
		}
		from := fmt.Sprintf("page %d", r.id)
		switch flags := native.Uint16(buf[8:]); flags {
		case flagBranch:
			children, err := branchChildren(buf)
			if err != nil {
				return fmt.Errorf("%s: %w", from, err)
			}
			for _, c := range children {
				stack = append(stack, ref{c, from})
			}
		case flagLeaf:
			roots, err := leafBuckets(buf, true)
			if err != nil {
				return fmt.Errorf("%s: %w", from, err)
			}
			for _, c := range roots {
				stack = append(stack, ref{c, from})
			}
		default:
			return fmt.Errorf("%s (referred to by %s) has type %#x, not a branch or leaf page", from, r.parent, flags)
		}
	}
	return nil
}

// elements returns the offset of each element of a branch or leaf page in
// buf, after checking that they fit.
func elements(buf []byte) (int, error) {
	count := int(native.Uint16(buf[10:]))
	if pageHeaderSize+count*pageElementSize > len(buf) {
		return 0, fmt.Errorf("%d elements do not fit in %d bytes", count, len(buf))
	}
	return count, nil
}

// span checks that n bytes at off lie inside buf and returns its end.
func span(buf []byte, off, n uint64) (uint64, error) {
	end := off + n
	if end < off || end > uint64(len(buf)) {
		return 0, fmt.Errorf("an element's data (%d bytes at %d) lies outside its page", n, off)
	}
	return end, nil
}

func branchChildren(buf []byte) ([]uint64, error) {
	count, err := elements(buf)
	if err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, errors.New("an empty branch page")
	}
	children := make([]uint64, 0, count)
	for i := range count {
		e := uint64(pageHeaderSize + i*pageElementSize)
		pos, ksize := uint64(native.Uint32(buf[e:])), uint64(native.Uint32(buf[e+4:]))
		if _, err := span(buf, e+pos, ksize); err != nil {
			return nil, err
		}
		children = append(children, native.Uint64(buf[e+8:]))
	}
	return children, nil
}

// leafBuckets checks a leaf page and returns the root pages of the
// sub-buckets it holds; their inline pages are checked here. An inline page
// may not hold buckets itself (nested is false), as bbolt never writes one.
func leafBuckets(buf []byte, nested bool) ([]uint64, error) {
	count, err := elements(buf)
	if err != nil {
		return nil, err
	}
	var roots []uint64
	for i := range count {
		e := uint64(pageHeaderSize + i*pageElementSize)
		flags := native.Uint32(buf[e:])
		pos, ksize, vsize := uint64(native.Uint32(buf[e+4:])), uint64(native.Uint32(buf[e+8:])), uint64(native.Uint32(buf[e+12:]))
		kend, err := span(buf, e+pos, ksize)
		if err != nil {
			return nil, err
		}
		vend, err := span(buf, kend, vsize)
		if err != nil {
			return nil, err
		}
		if flags&flagBucketEntry == 0 {
			continue
		}
		if !nested {
			return nil, errors.New("an inline bucket holds a bucket")
		}
		value := buf[kend:vend]
		if len(value) < bucketHeader {
			return nil, fmt.Errorf("a bucket entry of %d bytes", len(value))
		}
		root := native.Uint64(value)
		if root != 0 {
			roots = append(roots, root)
			continue
		}
		inline := value[bucketHeader:]
		if len(inline) < pageHeaderSize || native.Uint16(inline[8:]) != flagLeaf {
			return nil, errors.New("an inline bucket without a leaf page")
		}
		if _, err := leafBuckets(inline, false); err != nil {
			return nil, fmt.Errorf("inline bucket: %w", err)
		}
	}
	return roots, nil
}

// freelist checks the freelist page and that the free pages it lists are
// inside the file and not in use.
func (w *pageWalker) freelist(id uint64) error {
	if id == noFreelist {
		return nil
	}
	buf, err := w.page(id, "the meta page's freelist")
	if err != nil {
		return err
	}
	if flags := native.Uint16(buf[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist page %d has type %#x", id, flags)
	}
	start, count := uint64(pageHeaderSize), uint64(native.Uint16(buf[10:]))
	if count == 0xFFFF { // the real count is the first element
		count = native.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(buf))-start)/8 {
		return fmt.Errorf("freelist page %d lists %d pages, more than it can hold", id, count)
	}
	listed := make(map[uint64]bool, count)
	for i := range count {
		free := native.Uint64(buf[start+8*i:])
		switch {
		case free < 2 || free >= w.hwm:
			return fmt.Errorf("freelist page %d lists page %d, outside the pages in use [2, %d)", id, free, w.hwm)
		case w.seen[free]:
			return fmt.Errorf("freelist page %d lists page %d, which is in use", id, free)
		case listed[free]:
			return fmt.Errorf("freelist page %d lists page %d twice", id, free)
		}
		listed[free] = true
	}
	return nil
}

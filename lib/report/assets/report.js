// kubectl-ir report: draws the tables of the page from the JSON in #ir-data.
// Rules: every value from the bundle is hostile text: it is only ever set with textContent (never
// innerHTML, never an attribute that loads or runs anything); nothing is fetched; large lists are
// drawn one page at a time.
(function () {
  'use strict';
  var doc = document;
  var PAGE = 100;

  function el(tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null && text !== '') e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      parent.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    }
    return parent;
  }
  function view(id) { return doc.querySelector('.view[data-view="' + id + '"]'); }
  function pad(n, w) { var s = String(n); while (s.length < w) s = '0' + s; return s; }
  // Microseconds since the epoch -> "2026-12-05T11:14:10.077934Z".
  function timeUs(us) {
    if (us === null || us === undefined) return '';
    var ms = Math.floor(us / 1000);
    var d = new Date(ms);
    if (isNaN(d.getTime())) return '@' + Math.floor(us / 1e6);
    var iso = d.toISOString();
    var frac = us - Math.floor(us / 1e6) * 1e6;
    return frac === 0 ? iso.slice(0, 19) + 'Z' : iso.slice(0, 19) + '.' + pad(frac, 6) + 'Z';
  }
  function timeS(s) { return s === null || s === undefined ? '' : timeUs(s * 1e6); }
  function bytes(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function octal(m) { return pad(m.toString(8), 4); }
  function clip(s, n) { s = String(s || ''); return s.length > n ? s.slice(0, n) + '… (' + bytes(s.length - n) + ' more characters)' : s; }
  function sevBadge(sev) { return el('span', 'sev ' + (/^(critical|high|medium|low|info)$/.test(sev) ? sev : 'info'), sev); }
  function debounce(f, ms) {
    var t = null;
    return function () { if (t) clearTimeout(t); t = setTimeout(f, ms); };
  }

  var data;
  try {
    data = JSON.parse(doc.getElementById('ir-data').textContent);
  } catch (e) {
    add(doc.querySelector('main'), el('p', 'error', 'The page data could not be read: ' + e.message));
    return;
  }
  var findings = data.findings || [];

  // --- a paged, sortable, filterable table -----------------------------------------------------
  // columns: [{title, value(row) (sort key and default text), cell(row, td) (optional), num, cls}]
  function Table(container, opts) {
    var self = this;
    this.opts = opts;
    this.rows = opts.rows;
    this.view = this.rows;
    this.sortCol = opts.sortCol === undefined ? -1 : opts.sortCol;
    this.desc = !!opts.desc;
    this.page = 0;
    this.query = '';
    var tools = el('div', 'tools');
    if (opts.filter) {
      this.input = el('input');
      this.input.type = 'search';
      this.input.placeholder = opts.placeholder || 'Filter';
      this.input.setAttribute('aria-label', this.input.placeholder);
      this.input.addEventListener('input', debounce(function () { self.query = self.input.value; self.page = 0; self.refresh(); }, 120));
      add(tools, this.input);
    }
    (opts.extraTools || []).forEach(function (t) { add(tools, t); });
    this.count = el('span', 'muted');
    add(tools, this.count);
    add(container, tools);
    this.table = el('table', 'grid');
    var thead = el('thead');
    var tr = el('tr');
    this.ths = opts.columns.map(function (c, i) {
      var th = el('th', c.nosort ? '' : 'sortable', c.title);
      if (!c.nosort) {
        th.addEventListener('click', function () {
          if (self.sortCol === i) self.desc = !self.desc; else { self.sortCol = i; self.desc = !!c.descFirst; }
          self.page = 0;
          self.refresh();
        });
      }
      add(tr, th);
      return th;
    });
    add(this.table, add(thead, tr));
    this.tbody = el('tbody');
    add(this.table, this.tbody);
    add(container, this.table);
    this.pager = el('div', 'pager');
    add(container, this.pager);
    this.refresh();
  }
  Table.prototype.setRows = function (rows) { this.rows = rows; this.page = 0; this.refresh(); };
  Table.prototype.refresh = function () {
    var o = this.opts, q = this.query.toLowerCase(), rows = this.rows;
    if (q && o.filter) rows = rows.filter(function (r) { return o.filter(r, q); });
    if (o.keep) rows = rows.filter(o.keep);
    if (this.sortCol >= 0) {
      // One key per row, an index sorted by it (ties keep their order): no object per row.
      var get = o.columns[this.sortCol].value, dir = this.desc ? -1 : 1, n = rows.length;
      var keys = new Array(n), idx = new Array(n);
      for (var k = 0; k < n; k++) { keys[k] = get(rows[k]); idx[k] = k; }
      idx.sort(function (a, b) {
        var x = keys[a], y = keys[b];
        if (x === y) return a - b;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
      var sorted = new Array(n);
      for (k = 0; k < n; k++) sorted[k] = rows[idx[k]];
      rows = sorted;
    }
    this.view = rows;
    var self = this;
    this.ths.forEach(function (th, i) {
      th.classList.toggle('sorted-asc', i === self.sortCol && !self.desc);
      th.classList.toggle('sorted-desc', i === self.sortCol && self.desc);
    });
    this.draw();
  };
  Table.prototype.draw = function () {
    var o = this.opts, self = this, pages = Math.max(1, Math.ceil(this.view.length / PAGE));
    if (this.page >= pages) this.page = pages - 1;
    var start = this.page * PAGE, end = Math.min(this.view.length, start + PAGE);
    var body = el('tbody');
    for (var i = start; i < end; i++) {
      var r = this.view[i], tr = el('tr');
      if (o.rowClass) { var rc = o.rowClass(r); if (rc) tr.className = rc; }
      if (o.rowId) { var id = o.rowId(r); if (id) tr.id = id; }
      for (var c = 0; c < o.columns.length; c++) {
        var col = o.columns[c], td = el('td', col.num ? 'num' : (col.cls || ''));
        if (col.cell) col.cell(r, td); else td.textContent = String(col.text ? col.text(r) : (col.value(r) === null ? '' : col.value(r)));
        add(tr, td);
      }
      add(body, tr);
    }
    this.table.replaceChild(body, this.tbody);
    this.tbody = body;
    this.count.textContent = this.view.length === this.rows.length ? bytes(this.rows.length) + ' rows'
      : bytes(this.view.length) + ' of ' + bytes(this.rows.length) + ' rows';
    this.pager.textContent = '';
    if (pages > 1) {
      var btn = function (label, page) {
        var b = el('button', '', label);
        b.type = 'button';
        b.disabled = page < 0 || page >= pages || page === self.page;
        b.addEventListener('click', function () { self.page = page; self.draw(); });
        return b;
      };
      add(this.pager, btn('« first', 0), btn('‹ previous', this.page - 1),
          el('span', 'page', 'rows ' + bytes(start + 1) + '–' + bytes(end) + ' of ' + bytes(this.view.length) +
             ' (page ' + (this.page + 1) + ' of ' + pages + ')'),
          btn('next ›', this.page + 1), btn('last »', pages - 1));
    }
  };
  Table.prototype.show = function (predicate) {
    for (var i = 0; i < this.view.length; i++) {
      if (predicate(this.view[i])) { this.page = Math.floor(i / PAGE); this.draw(); return true; }
    }
    return false;
  };

  function findingBadges(idx, td) {
    (idx || []).forEach(function (i) {
      var f = findings[i];
      if (!f) return;
      var b = el('span', 'badge', f.rule);
      b.title = f.summary;
      add(td, b);
    });
  }

  // --- findings ---------------------------------------------------------------------------------
  function drawFindings() {
    var v = view('findings');
    if (!findings.length) { add(v, el('p', 'muted', 'No findings.')); return; }
    new Table(v, {
      rows: findings, filter: function (f, q) { return (f.rule + ' ' + f.summary + ' ' + f.kind + ' ' + f.c + ' ' + f.pod).toLowerCase().indexOf(q) >= 0; },
      placeholder: 'Filter findings',
      columns: [
        { title: 'Severity', value: function (f) { return ['critical', 'high', 'medium', 'low', 'info'].indexOf(f.sev); },
          cell: function (f, td) { add(td, sevBadge(f.sev)); } },
        { title: 'Rule', value: function (f) { return f.rule; }, cls: 'mono' },
        { title: 'Kind', value: function (f) { return f.kind; } },
        { title: 'Where', value: function (f) { return (f.pod ? f.pod + ' ' : '') + f.c; } },
        { title: 'Summary', value: function (f) { return f.summary; }, cls: 'wrap' },
        { title: 'Seen in', value: function (f) { return f.seen; } },
        { title: 'From', value: function (f) { return f.source === 'report' ? "report's own check" : f.source; }, cls: 'mono' }
      ]
    });
  }

  // --- process tree -----------------------------------------------------------------------------
  var procIndex = {};
  function drawProcesses() {
    var v = view('processes');
    var procs = data.procs || [];
    if (!procs.length) { add(v, el('p', 'muted', 'No processes in the bundle.')); return; }
    var tools = el('div', 'tools');
    var search = el('input');
    search.type = 'search';
    search.placeholder = 'Search pid, user, command, executable, hash';
    search.setAttribute('aria-label', search.placeholder);
    search.id = 'proc-search';
    var expand = el('button', '', 'expand all'), collapse = el('button', '', 'collapse all');
    expand.type = collapse.type = 'button';
    var count = el('span', 'muted');
    add(v, add(tools, search, expand, collapse, count));
    var items = [];
    (data.containers.length ? data.containers : ['']).forEach(function (c) {
      var mine = procs.filter(function (p) { return p.c === c; });
      if (!mine.length) return;
      var byPid = {}, kids = {};
      mine.forEach(function (p) { byPid[p.pid] = p; });
      mine.forEach(function (p) {
        var parent = byPid[p.ppid] && p.ppid !== p.pid ? p.ppid : 0;
        (kids[parent] = kids[parent] || []).push(p);
      });
      add(v, el('h3', '', 'Container ' + c + ' (' + mine.length + ' processes)'));
      var ul = el('ul', 'tree');
      var seen = {};
      function node(p, parentLi, depth) {
        var li = el('li');
        li.id = 'proc-' + data.containers.indexOf(c) + '-' + p.pid;
        procIndex[c + '\u0000' + p.pid] = p;
        var children = kids[p.pid] || [];
        var t = el('button', 'toggle', children.length ? '▾' : '·');
        t.type = 'button';
        if (children.length) t.addEventListener('click', function () { li.classList.toggle('collapsed'); t.textContent = li.classList.contains('collapsed') ? '▸' : '▾'; });
        var n = el('span', 'node');
        var cmd = el('span', 'cmd', clip(p.cmd || '[' + p.comm + ']', 300));
        cmd.title = clip(p.cmd, 4000);
        add(n, el('span', 'pid', p.pid), ' ', el('span', 'muted', p.user || ''), ' ', cmd);
        if (p.f.length) { li.className = 'suspicious'; findingBadges(p.f, n); }
        if (p.flags.length) add(n, el('span', 'badge', 'flags: ' + p.flags.join(', ')));
        var detail = el('span', 'detail');
        var parts = [];
        if (p.exe) parts.push('exe ' + p.exe);
        if (p.sha) parts.push('sha256 ' + p.sha);
        if (p.start) parts.push('started ' + (p.est ? '≈ ' : '') + p.start);
        if (p.cwd) parts.push('cwd ' + p.cwd);
        if (p.comm) parts.push('comm ' + p.comm);
        if (p.state) parts.push('state ' + p.state);
        if (p.ppid === 0 && p.pid !== 1) parts.push('parent outside the container: started by an exec (kubectl exec, or this collection)');
        detail.textContent = parts.join(' · ');
        add(li, t, n, detail);
        li._text = (p.pid + ' ' + p.user + ' ' + p.cmd + ' ' + p.comm + ' ' + p.exe + ' ' + p.sha).toLowerCase();
        li._parent = parentLi;
        items.push(li);
        seen[p.pid] = true;
        if (children.length && depth < 200) {
          var sub = el('ul');
          children.forEach(function (k) { if (!seen[k.pid]) add(sub, node(k, li, depth + 1)); });
          add(li, sub);
        }
        return li;
      }
      (kids[0] || []).forEach(function (p) { add(ul, node(p, null, 0)); });
      mine.forEach(function (p) { if (!seen[p.pid]) add(ul, node(p, null, 0)); });  // cycles: shown flat
      add(v, ul);
    });
    function update() {
      var q = search.value.toLowerCase().trim(), shown = 0;
      items.forEach(function (li) { li.classList.remove('match'); li.classList.toggle('hidden', !!q); });
      items.forEach(function (li) {
        if (q && li._text.indexOf(q) < 0) return;
        shown++;
        if (q) li.classList.add('match');
        for (var a = li; a; a = a._parent) { a.classList.remove('hidden'); a.classList.remove('collapsed'); }
      });
      count.textContent = q ? shown + ' of ' + items.length + ' processes match' : items.length + ' processes';
    }
    search.addEventListener('input', debounce(update, 100));
    expand.addEventListener('click', function () { items.forEach(function (li) { li.classList.remove('collapsed'); }); });
    collapse.addEventListener('click', function () { items.forEach(function (li) { if (li.querySelector('ul')) li.classList.add('collapsed'); }); });
    update();
  }

  function processLink(c, pid) {
    var p = procIndex[c + '\u0000' + pid];
    var a = el('a', '', pid + (p ? ' ' + (p.comm || '') : ''));
    a.href = '#proc-' + data.containers.indexOf(c) + '-' + Number(pid);
    if (p && p.f.length) a.className = 'bad';
    return a;
  }

  // --- connections ------------------------------------------------------------------------------
  function drawConnections() {
    var v = view('connections');
    var conns = data.conns || [];
    if (!conns.length) { add(v, el('p', 'muted', 'No sockets in the bundle.')); return; }
    var rank = { ESTABLISHED: 0, LISTEN: 1 };
    new Table(v, {
      rows: conns, sortCol: 2,
      filter: function (c, q) { return (c.proto + ' ' + c.state + ' ' + c.local + ' ' + c.remote + ' ' + c.name + ' ' + c.pids.join(' ')).toLowerCase().indexOf(q) >= 0; },
      placeholder: 'Filter connections',
      rowClass: function (c) {
        var bad = c.f.length || c.pids.some(function (pid) { var p = procIndex[c.c + '\u0000' + pid]; return p && p.f.length; });
        return bad ? 'marked' : '';
      },
      columns: [
        { title: 'Container', value: function (c) { return c.c; } },
        { title: 'Proto', value: function (c) { return c.proto; } },
        { title: 'State', value: function (c) { return c.state in rank ? rank[c.state] + c.state : '9' + c.state; }, text: function (c) { return c.state; } },
        { title: 'Local', value: function (c) { return c.local; }, cls: 'mono' },
        { title: 'Remote', value: function (c) { return c.remote; }, cls: 'mono' },
        { title: 'Remote is', value: function (c) { return c.name; }, cls: 'wrap' },
        { title: 'Process', value: function (c) { return c.pids.length ? c.pids[0] : null; },
          cell: function (c, td) { c.pids.forEach(function (pid, i) { if (i) add(td, ', '); add(td, processLink(c.c, pid)); }); } },
        { title: 'Marks', value: function (c) { return c.f.length; }, nosort: true, cell: function (c, td) {
          findingBadges(c.f, td);
          c.pids.forEach(function (pid) { var p = procIndex[c.c + '\u0000' + pid]; if (p && p.f.length) add(td, el('span', 'badge', 'suspicious process ' + pid)); });
        } }
      ]
    });
  }

  // --- files ------------------------------------------------------------------------------------
  // data.files is columnar: F.suf[i], F.size[i], ... for file i; a file is its index.
  var F = data.files || { n: 0 }, paths = [], files = [], extra = {};
  function decodeFiles() {
    var prev = '', prevC = -1, pre = F.pre, suf = F.suf, cs = F.c;
    paths = new Array(F.n);
    files = new Array(F.n);
    for (var i = 0; i < F.n; i++) {
      var c = cs ? cs[i] : 0;
      var p = c === prevC ? prev.slice(0, pre[i]) + suf[i] : suf[i];
      paths[i] = p;
      files[i] = i;
      prev = p;
      prevC = c;
    }
    (F.extra || []).forEach(function (e) { extra[e[0]] = e[1]; });
  }
  var lower = null;
  function lowerPath(i) { if (!lower) lower = paths.map(function (p) { return p.toLowerCase(); }); return lower[i]; }
  function fileC(i) { return F.c ? F.c[i] : 0; }
  function fileMarks(i) { var x = extra[i]; return x && x.m ? x.m : []; }
  function fileSha(i) { var x = extra[i]; return x && x.h ? x.h : ''; }
  function drawFiles() {
    var v = view('files');
    if (!F.n) { add(v, el('p', 'muted', 'No file listing in the bundle.')); return; }
    var markedOnly = el('label', '');
    var box = el('input');
    box.type = 'checkbox';
    add(markedOnly, box, ' marked or hashed only');
    var multi = data.containers.length > 1;
    var columns = [
      { title: 'Path', value: function (i) { return paths[i]; }, cls: 'mono',
        cell: function (i, td) { add(td, paths[i]); var x = extra[i]; if (x && x.t) add(td, el('span', 'muted', ' → ' + x.t)); } },
      { title: 'Type', value: function (i) { return F.type.charAt(i); } },
      { title: 'Size', value: function (i) { return F.size[i]; }, num: true, text: function (i) { return bytes(F.size[i]); }, descFirst: true },
      { title: 'Mode', value: function (i) { return F.mode[i]; }, text: function (i) { return octal(F.mode[i]); }, cls: 'mono' },
      { title: 'Owner', value: function (i) { return F.uid[i]; }, text: function (i) { return F.uid[i] + ':' + F.gid[i]; } },
      { title: 'Modified (UTC)', value: function (i) { return F.mtime[i]; }, text: function (i) { return timeS(F.mtime[i]); }, cls: 'nowrap', descFirst: true },
      { title: 'SHA-256', value: fileSha, cls: 'mono' },
      { title: 'Marks', value: function (i) { return fileMarks(i).length; }, descFirst: true,
        cell: function (i, td) { findingBadges(fileMarks(i), td); var x = extra[i]; if (x && x.x) add(td, el('span', 'badge', 'listing flag')); } }
    ];
    if (multi) columns.unshift({ title: 'Container', value: function (i) { return data.containers[fileC(i)]; } });
    var t = new Table(v, {
      rows: files, sortCol: multi ? 6 : 5, desc: true, columns: columns,
      filter: function (i, q) { return lowerPath(i).indexOf(q) >= 0; },
      placeholder: 'Filter by path', extraTools: [markedOnly],
      rowClass: function (i) { return fileMarks(i).length ? 'marked' : ''; }
    });
    t.input.id = 'file-filter';
    box.addEventListener('change', function () {
      t.opts.keep = box.checked ? function (i) { var x = extra[i]; return !!(x && (x.m || x.h || x.x)); } : null;
      t.page = 0;
      t.refresh();
    });
  }

  // --- timeline ---------------------------------------------------------------------------------
  function drawTimeline() {
    var v = view('timeline');
    var kinds = data.kinds, sources = data.sources;
    var base = (data.events || []).map(function (e) {
      return { t: e[0], kind: kinds[e[1]], msg: e[2], src: sources[e[3]], c: e[4], est: !!e[5] };
    });
    function fileEvent(i) {
      var c = data.containers[fileC(i)], sha = fileSha(i);
      return { t: F.mtime[i] * 1e6, kind: 'File Modified', msg: 'modified: ' + paths[i] + (sha ? ' (sha256 ' + sha.slice(0, 16) + '…)' : ''),
               src: 'containers/' + c + '/filesystem/listing.jsonl', c: c, est: false, marks: fileMarks(i) };
    }
    var dated = files.filter(function (i) { return F.mtime[i] !== null; });
    var newest = dated.slice().sort(function (a, b) { return F.mtime[b] - F.mtime[a] || a - b; });
    var chosen = newest.slice(0, data.timelineFiles);
    newest.slice(data.timelineFiles).forEach(function (i) { if (extra[i]) chosen.push(i); });
    function rows(all) { return base.concat((all ? dated : chosen).map(fileEvent)); }
    var allBox = el('input');
    allBox.type = 'checkbox';
    var allLabel = add(el('label'), allBox, ' every file mtime (' + bytes(dated.length) + ')');
    var kindSel = el('select');
    add(kindSel, el('option', '', 'all kinds'));
    kinds.forEach(function (k) { var o = el('option', '', k); o.value = k; add(kindSel, o); });
    kindSel.options[0].value = '';
    var t = new Table(v, {
      rows: rows(false), sortCol: 0, desc: false,
      filter: function (e, q) { return (e.msg + ' ' + e.kind + ' ' + e.c + ' ' + e.src).toLowerCase().indexOf(q) >= 0; },
      placeholder: 'Filter the timeline', extraTools: [kindSel, allLabel],
      rowClass: function (e) { return e.kind === 'Responder Action' || e.kind === 'Evidence Collection' ? 'action' : (e.marks && e.marks.length ? 'marked' : ''); },
      columns: [
        { title: 'Time (UTC)', value: function (e) { return e.t; }, text: function (e) { return (e.est ? '≈ ' : '') + timeUs(e.t); }, cls: 'nowrap mono' },
        { title: 'Kind', value: function (e) { return e.kind; }, cls: 'nowrap' },
        { title: 'Container', value: function (e) { return e.c; } },
        { title: 'What', value: function (e) { return e.msg; }, cls: 'wrap' },
        { title: 'Source', value: function (e) { return e.src; }, cls: 'mono' }
      ]
    });
    t.table.id = 'timeline-table';
    kindSel.addEventListener('change', function () {
      var k = kindSel.value;
      t.opts.keep = k ? function (e) { return e.kind === k; } : null;
      t.page = 0;
      t.refresh();
    });
    allBox.addEventListener('change', function () { t.setRows(rows(allBox.checked)); });
  }

  // --- blast radius -----------------------------------------------------------------------------
  function drawBlast() {
    var v = view('blast');
    var sib = data.siblings || [];
    if (data.digest) add(v, add(el('p'), 'Image digest compared: ', el('code', '', data.digest)));
    if (!sib.length) { add(v, el('p', 'muted', 'The bundle holds no siblings (run the triage playbook, or collect with drift, to see them).')); return; }
    var group = el('select');
    [['', 'no grouping'], ['workload', 'group by workload'], ['ns', 'group by namespace'], ['node', 'group by node']].forEach(function (g) {
      var o = el('option', '', g[1]); o.value = g[0]; add(group, o);
    });
    var cols = [
      { title: 'Namespace', value: function (s) { return s.ns; } },
      { title: 'Pod', value: function (s) { return s.name; }, cls: 'mono' },
      { title: 'Workload', value: function (s) { return s.workload; } },
      { title: 'Node', value: function (s) { return s.node; } },
      { title: 'Phase', value: function (s) { return s.phase; } },
      { title: 'Relation', value: function (s) { return s.relation; }, cls: 'wrap' },
      { title: 'Done to it', value: function (s) { return s.actions; } },
      { title: 'Evidence in bundle', value: function (s) { return s.evidence ? 'yes' : ''; } }
    ];
    var t = new Table(v, { rows: sib, columns: cols, sortCol: 2, extraTools: [group],
      filter: function (s, q) { return (s.ns + '/' + s.name + ' ' + s.workload + ' ' + s.node).toLowerCase().indexOf(q) >= 0; },
      placeholder: 'Filter pods' });
    group.addEventListener('change', function () {
      var key = { workload: 2, ns: 0, node: 3 }[group.value];
      t.sortCol = key === undefined ? 2 : key;
      t.desc = false;
      t.refresh();
    });
  }

  // --- custody ----------------------------------------------------------------------------------
  function drawCustody() {
    var v = view('custody');
    var arts = data.artifacts || [];
    if (!arts.length) { add(v, el('p', 'muted', 'No manifest could be read.')); return; }
    new Table(v, {
      rows: arts, filter: function (a, q) { return (a[0] + ' ' + a[4] + ' ' + a[2]).toLowerCase().indexOf(q) >= 0; },
      placeholder: 'Filter artifacts',
      rowClass: function (a) { return a[8] ? 'problem' : (a[6] ? 'marked' : ''); },
      columns: [
        { title: 'Artifact', value: function (a) { return a[0]; }, cls: 'mono' },
        { title: 'Size', value: function (a) { return a[1]; }, num: true, text: function (a) { return bytes(a[1]); } },
        { title: 'SHA-256', value: function (a) { return a[2]; }, cls: 'mono' },
        { title: 'Method', value: function (a) { return a[3]; } },
        { title: 'Source', value: function (a) { return a[4]; }, cls: 'mono' },
        { title: 'Collected (UTC)', value: function (a) { return a[5]; }, cls: 'nowrap' },
        { title: 'Truncated', value: function (a) { return a[6] ? 'yes' + (a[7] ? ': ' + a[7] : '') : ''; } },
        { title: 'Verification', value: function (a) { return a[8] ? 'MISMATCH: ' + a[8] : 'ok'; } }
      ]
    });
  }

  function step(name, f) {
    try { f(); } catch (e) { var v = view(name) || doc.querySelector('main'); add(v, el('p', 'error', 'This section could not be drawn: ' + e.message)); }
  }
  decodeFiles();
  step('findings', drawFindings);
  step('processes', drawProcesses);
  step('connections', drawConnections);
  step('files', drawFiles);
  step('timeline', drawTimeline);
  step('blast', drawBlast);
  step('custody', drawCustody);

  // Follow a link to a process: uncollapse its ancestors.
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (id.indexOf('proc-') !== 0) return;
    var li = doc.getElementById(id);
    for (var a = li; a; a = a._parent) a.classList.remove('collapsed', 'hidden');
    if (li) li.scrollIntoView();
  }
  window.addEventListener('hashchange', reveal);
  window.addEventListener('beforeprint', function () {
    Array.prototype.forEach.call(doc.querySelectorAll('details'), function (d) { d.open = true; });
  });
  doc.documentElement.setAttribute('data-ir-ready', '1');
})();

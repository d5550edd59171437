// A small Markdown renderer that builds DOM nodes and never parses HTML: every piece of
// text becomes a text node, so nothing from the model or the data can become markup.
// Supports headings, paragraphs, line breaks, lists, block quotes, fenced code, tables,
// rules, **bold**, *italic*, `code` and [links](https://...) to http(s), mailto or "/".

const INLINE =
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(\S(?:[\s\S]*?\S)?)\*\*|__(\S(?:[\s\S]*?\S)?)__|\*(\S(?:[^*]*?\S)?)\*|(?<![\w])_(\S(?:[^_]*?\S)?)_(?![\w])|\[([^\]\n]+)\]\(([^()\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

export function safeHref(url) {
  const trimmed = url.trim();
  if (/^(https?:|mailto:)/i.test(trimmed)) return trimmed;
  if (trimmed.startsWith("/") && !trimmed.startsWith("//")) return trimmed;
  return null;
}

function link(text, href, parent) {
  const target = safeHref(href);
  if (target === null) {
    parent.append(document.createTextNode(text));
    return;
  }
  const a = el("a");
  a.href = target;
  a.rel = "noopener noreferrer nofollow";
  if (!target.startsWith("/")) a.target = "_blank";
  inline(text, a);
  parent.append(a);
}

export function inline(text, parent) {
  let rest = text;
  while (rest.length > 0) {
    const m = INLINE.exec(rest);
    if (m === null) {
      parent.append(document.createTextNode(rest));
      return;
    }
    if (m.index > 0) parent.append(document.createTextNode(rest.slice(0, m.index)));
    if (m[1] !== undefined) {
      const code = el("code");
      code.textContent = m[2].replace(/^ (.*) $/s, "$1");
      parent.append(code);
    } else if (m[3] !== undefined || m[4] !== undefined) {
      const strong = el("strong");
      inline(m[3] ?? m[4], strong);
      parent.append(strong);
    } else if (m[5] !== undefined || m[6] !== undefined) {
      const em = el("em");
      inline(m[5] ?? m[6], em);
      parent.append(em);
    } else if (m[7] !== undefined) {
      link(m[7], m[8], parent);
    } else {
      link(m[9], m[9], parent);
    }
    rest = rest.slice(m.index + m[0].length);
  }
}

function lines(parent, textLines) {
  textLines.forEach((line, i) => {
    if (i > 0) parent.append(el("br"));
    inline(line, parent);
  });
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

const TABLE_RULE = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+-]*)\s*$/;

function table(rows, parent) {
  const tableEl = el("table");
  const head = el("thead");
  const tr = el("tr");
  for (const cell of splitRow(rows[0])) {
    const th = el("th");
    inline(cell, th);
    tr.append(th);
  }
  head.append(tr);
  tableEl.append(head);
  const body = el("tbody");
  for (const row of rows.slice(2)) {
    const r = el("tr");
    for (const cell of splitRow(row)) {
      const td = el("td");
      inline(cell, td);
      r.append(td);
    }
    body.append(r);
  }
  tableEl.append(body);
  const wrap = el("div", "table-wrap");
  wrap.append(tableEl);
  parent.append(wrap);
}

function list(items, parent) {
  const ordered = /^\d/.test(items[0].marker);
  const listEl = el(ordered ? "ol" : "ul");
  if (ordered) {
    const start = parseInt(items[0].marker, 10);
    if (start !== 1) listEl.start = start;
  }
  for (const item of items) {
    const li = el("li");
    lines(li, item.lines);
    listEl.append(li);
  }
  parent.append(listEl);
}

export function renderMarkdown(source) {
  const root = document.createDocumentFragment();
  const input = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < input.length) {
    const line = input[i];
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < input.length && !input[i].trim().startsWith(fence[1])) {
        body.push(input[i]);
        i += 1;
      }
      i += 1;
      const pre = el("pre");
      const code = el("code");
      if (fence[2]) code.dataset.lang = fence[2];
      code.textContent = body.join("\n");
      pre.append(code);
      root.append(pre);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const h = el(`h${Math.min(heading[1].length + 2, 6)}`);
      inline(heading[2], h);
      root.append(h);
      i += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      root.append(el("hr"));
      i += 1;
      continue;
    }
    if (line.includes("|") && i + 1 < input.length && TABLE_RULE.test(input[i + 1])) {
      const rows = [line, input[i + 1]];
      i += 2;
      while (i < input.length && input[i].includes("|") && input[i].trim() !== "") {
        rows.push(input[i]);
        i += 1;
      }
      table(rows, root);
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < input.length && /^\s*>/.test(input[i])) {
        quoted.push(input[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      const bq = el("blockquote");
      bq.append(renderMarkdown(quoted.join("\n")));
      root.append(bq);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const items = [];
      while (i < input.length && input[i].trim() !== "") {
        const m = LIST_ITEM.exec(input[i]);
        if (m) items.push({ marker: m[2], lines: [m[3]] });
        else items[items.length - 1].lines.push(input[i].trim());
        i += 1;
      }
      list(items, root);
      continue;
    }
    const para = [];
    while (
      i < input.length &&
      input[i].trim() !== "" &&
      !FENCE.test(input[i]) &&
      !/^#{1,6}\s/.test(input[i]) &&
      !(para.length > 0 && LIST_ITEM.test(input[i]))
    ) {
      para.push(input[i]);
      i += 1;
    }
    const p = el("p");
    lines(p, para);
    root.append(p);
  }
  return root;
}

// CSV parsing (RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends) for the Produce
// page's upload. The first row names the columns.

/** Parses CSV text into rows of fields. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // Byte order mark from spreadsheet exports.
  for (; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 1; } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field); field = '';
      rows.push(row); row = [];
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  // Blank lines carry no record.
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** Turns parsed rows into {columns, records: [{column: value}]}; missing cells become "". */
export function toRecords(rows) {
  if (!rows.length) return { columns: [], records: [] };
  const columns = rows[0].map((name, i) => name.trim() || `column_${i + 1}`);
  const records = rows.slice(1).map((cells) => {
    const record = {};
    columns.forEach((name, i) => { record[name] = cells[i] ?? ''; });
    return record;
  });
  return { columns, records };
}

//! A self-contained, offline HTML timeline of a checked history, in the spirit of
//! Porcupine's visualizer: one lane per process, operations as bars, the linearization
//! (or the longest partial one and the operations that could not be placed) highlighted,
//! and a selector for the per-key partitions. No external resources.

use crate::analysis::Analysis;
use serde_json::json;

const STYLE: &str = r#"
body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 8px}
.verdict{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-weight:600}
.v-linearizable{background:#2e7d32}.v-not{background:#c62828}.v-unknown{background:#f9a825;color:#222}
#controls{margin:10px 0}
#legend span{display:inline-block;margin-right:14px}
#legend i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid #555}
#outer{display:flex;border:1px solid #ccc;background:#fff}
#labels{position:relative;flex:none;width:96px;border-right:1px solid #ccc}
#wrap{overflow-x:auto;position:relative;flex:1}
#timeline{position:relative}
.lane-label{position:absolute;left:6px;font-size:12px;color:#555;width:90px;overflow:hidden;white-space:nowrap}
.lane{position:absolute;left:0;right:0;border-top:1px solid #eee}
.bar{position:absolute;height:22px;border:1px solid #555;border-radius:3px;font-size:11px;line-height:22px;
 padding:0 3px;box-sizing:border-box;overflow:hidden;white-space:nowrap;cursor:default;background:#cfd8dc}
.bar.lin{background:#a5d6a7;border-color:#2e7d32}
.bar.block{background:#ef9a9a;border-color:#b71c1c;border-width:2px}
.bar.open{border-right-style:dashed;border-right-width:3px;background-image:linear-gradient(90deg,transparent 70%,#fff 100%)}
.bar b{font-weight:700;margin-right:3px}
#tip{position:fixed;display:none;background:#263238;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;
 max-width:480px;pointer-events:none;white-space:pre-wrap;z-index:10}
#steps{margin-top:12px;font-size:12px}
#steps td{padding:1px 8px;border-bottom:1px solid #eee}
"#;

const SCRIPT: &str = r#"
const data = JSON.parse(document.getElementById('data').textContent);
const ops = new Map(data.ops.map(o => [o.id, o]));
const select = document.getElementById('partition');
data.partitions.forEach((p, i) => {
  const o = document.createElement('option');
  o.value = i;
  o.textContent = (p.key === null ? '(all operations)' : 'key ' + JSON.stringify(p.key)) +
    ' — ' + p.verdict + ' — ' + p.ops.length + ' ops';
  select.appendChild(o);
});
const firstBad = data.partitions.findIndex(p => p.verdict !== 'linearizable');
select.value = firstBad >= 0 ? firstBad : 0;
select.onchange = () => draw(data.partitions[select.value]);
const tip = document.getElementById('tip');
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
function draw(p) {
  const tl = document.getElementById('timeline');
  const labels = document.getElementById('labels');
  tl.innerHTML = '';
  labels.innerHTML = '';
  const members = p.ops.map(id => ops.get(id)).filter(Boolean);
  const order = new Map(p.linearization.map((s, i) => [s.op, i]));
  const blocking = new Set(p.blocking);
  const times = new Set();
  members.forEach(o => { times.add(o.call_time); if (o.return_time !== null) times.add(o.return_time); });
  const sorted = [...times].sort((a, b) => a - b);
  const rank = new Map(sorted.map((t, i) => [t, i]));
  const end = sorted.length + 1;
  const procs = [...new Set(members.map(o => o.process))].sort((a, b) => a - b);
  const laneOf = new Map(procs.map((q, i) => [q, i]));
  const unit = Math.max(28, Math.floor((window.innerWidth - 150) / Math.max(end, 1)));
  const left = 8, laneH = 34;
  tl.style.width = (left + end * unit + 20) + 'px';
  tl.style.height = (procs.length * laneH + 10) + 'px';
  labels.style.height = tl.style.height;
  procs.forEach((q, i) => {
    const lane = document.createElement('div');
    lane.className = 'lane'; lane.style.top = (i * laneH) + 'px'; tl.appendChild(lane);
    const label = document.createElement('div');
    label.className = 'lane-label'; label.style.top = (i * laneH + 8) + 'px';
    label.textContent = 'process ' + q; labels.appendChild(label);
  });
  members.forEach(o => {
    const bar = document.createElement('div');
    const a = rank.get(o.call_time), b = o.return_time === null ? end : rank.get(o.return_time);
    bar.className = 'bar' + (order.has(o.id) ? ' lin' : '') + (blocking.has(o.id) ? ' block' : '') +
      (o.return_time === null ? ' open' : '');
    bar.style.left = (left + a * unit) + 'px';
    bar.style.width = Math.max(unit * (b - a), 12) + 'px';
    bar.style.top = (laneOf.get(o.process) * laneH + 5) + 'px';
    const n = order.has(o.id) ? '<b>' + (order.get(o.id) + 1) + '</b>' : (blocking.has(o.id) ? '<b>✗</b>' : '');
    bar.innerHTML = n + esc(o.description);
    const step = order.has(o.id) ? p.linearization[order.get(o.id)] : null;
    bar.onmousemove = e => {
      tip.style.display = 'block';
      tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
      tip.textContent = 'op ' + o.id + ' · process ' + o.process + (o.line ? ' · line ' + o.line : '') + '\n' +
        o.description + (o.return_time === null ? '\n(indeterminate: may take effect any time after its call, or never)' : '') +
        (step ? '\nlinearized #' + (order.get(o.id) + 1) + ', state after: ' + step.state :
         blocking.has(o.id) ? '\ncould not be placed after the longest partial linearization' : '\nnot linearized');
    };
    bar.onmouseleave = () => { tip.style.display = 'none'; };
    tl.appendChild(bar);
  });
  const heading = p.verdict === 'linearizable' ? 'Linearization' :
    'Longest partial linearization (' + p.linearization.length + ' of ' + p.ops.length + ' operations)';
  let rows = p.linearization.map((s, i) => '<tr><td>' + (i + 1) + '</td><td>' +
    esc(ops.get(s.op) ? ops.get(s.op).description : 'op ' + s.op) + '</td><td>state: ' + esc(s.state) + '</td></tr>').join('');
  p.blocking.forEach(id => { rows += '<tr style="color:#b71c1c"><td>✗</td><td>' +
    esc(ops.get(id) ? ops.get(id).description : 'op ' + id) + '</td><td>cannot be placed next</td></tr>'; });
  // Bring the failing operation into view.
  const firstBlocked = members.find(o => blocking.has(o.id));
  document.getElementById('wrap').scrollLeft = firstBlocked ?
    Math.max(0, left + rank.get(firstBlocked.call_time) * unit - 300) : 0;
  document.getElementById('steps').innerHTML = '<b>' + heading + '</b><table>' + rows + '</table>';
}
draw(data.partitions[select.value]);
"#;

/// Renders `analysis` as one self-contained HTML document.
pub fn render(title: &str, analysis: &Analysis) -> String {
    let report = &analysis.report;
    let data = json!({
        "title": title,
        "model": analysis.model,
        "verdict": report.verdict,
        "ops": analysis.ops,
        "partitions": report.partitions,
    });
    // `</` inside a script element would end it early.
    let data = data.to_string().replace("</", "<\\/");
    let verdict_class = match report.verdict {
        crate::Verdict::Linearizable => "v-linearizable",
        crate::Verdict::NotLinearizable => "v-not",
        crate::Verdict::Unknown => "v-unknown",
    };
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>lincheck: {title}</title>\
<style>{STYLE}</style></head><body>\n\
<h1>{title}</h1>\n<div>model <b>{model}</b> · {ops} operations · {parts} partitions · \
<span class=\"verdict {verdict_class}\">{verdict}</span></div>\n\
<div id=\"controls\">partition: <select id=\"partition\"></select></div>\n\
<div id=\"legend\"><span><i style=\"background:#a5d6a7\"></i>linearized (number = order)</span>\
<span><i style=\"background:#ef9a9a\"></i>could not be placed</span>\
<span><i style=\"background:#cfd8dc\"></i>not linearized</span>\
<span><i style=\"border-right:3px dashed #555\"></i>indeterminate (open-ended)</span></div>\n\
<div id=\"outer\"><div id=\"labels\"></div><div id=\"wrap\"><div id=\"timeline\"></div></div></div>\n<div id=\"steps\"></div><div id=\"tip\"></div>\n\
<script type=\"application/json\" id=\"data\">{data}</script>\n<script>{SCRIPT}</script>\n</body></html>\n",
        title = escape(title),
        model = escape(&analysis.model),
        ops = analysis.ops.len(),
        parts = report.partitions.len(),
        verdict = report.verdict,
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

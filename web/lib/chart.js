// A small live line chart in SVG: a fixed window of points, one or two series, a y axis that
// grows with the data. No library: the dashboard needs only this.

import { s, h, formatNumber } from './dom.js';

const HEIGHT = 180;
const PAD_LEFT = 76;
const PAD_BOTTOM = 18;
const PAD_TOP = 8;
// Series colours in style.css (`.series-N`, `.swatch-N`); more series reuse them in turn.
const SERIES_STYLES = 5;

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * lineChart({title, series: ['in', 'out'], points: 60, format}) → {el, push([a, b])}.
 * The chart keeps the last `points` values of each series.
 */
export function lineChart({ title, series, points = 60, format = formatNumber }) {
  const values = series.map(() => []);
  const paths = series.map((_, i) => s('path', { class: `series-${i % SERIES_STYLES}`, d: '' }));
  // The drawing follows the element's real width, so text is never stretched on narrow screens.
  let width = 600;
  const gridLines = [0, 0.5, 1].map(() => s('line', { class: 'grid-line', x1: PAD_LEFT, x2: width }));
  const labels = [0, 0.5, 1].map(() => s('text', { class: 'axis-label', x: PAD_LEFT - 6, 'text-anchor': 'end' }));
  const timeLabel = s('text', { class: 'axis-label', x: width, y: HEIGHT - 4, 'text-anchor': 'end' }, `last ${points} s`);
  const description = s('desc', {}, '');
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': title },
    description, gridLines, labels, paths, timeLabel);
  const current = series.map((name, i) => h('span', { class: 'current', dataset: { series: name } }, '–'));
  const legend = h('div', { class: 'legend' },
    series.map((name, i) => h('span', {}, h('span', { class: `swatch swatch-${i % SERIES_STYLES}` }), `${name}: `, current[i])));

  function draw() {
    const max = niceMax(Math.max(0, ...values.flat()));
    const plotHeight = HEIGHT - PAD_TOP - PAD_BOTTOM;
    const y = (v) => PAD_TOP + plotHeight - (v / max) * plotHeight;
    const x = (i) => PAD_LEFT + (i / (points - 1)) * (width - PAD_LEFT);
    svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
    timeLabel.setAttribute('x', width);
    [0, 0.5, 1].forEach((fraction, i) => {
      const yy = y(fraction * max);
      gridLines[i].setAttribute('x2', width);
      gridLines[i].setAttribute('y1', yy);
      gridLines[i].setAttribute('y2', yy);
      labels[i].setAttribute('y', yy + 4);
      labels[i].textContent = format(fraction * max);
    });
    values.forEach((list, si) => {
      const offset = points - list.length;
      // A single sample is drawn as a short flat segment so it is visible at once.
      const drawn = list.length === 1 ? [list[0], list[0]] : list;
      const start = list.length === 1 ? points - 2 : offset;
      const d = drawn.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(start + i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      paths[si].setAttribute('d', d);
      current[si].textContent = list.length ? format(list[list.length - 1]) : '–';
    });
    svg.dataset.samples = String(values[0].length);
    description.textContent = series.map((name, i) => `${name} ${current[i].textContent}`).join(', ');
  }

  new ResizeObserver(() => {
    const measured = Math.round(svg.getBoundingClientRect().width);
    if (measured > PAD_LEFT && measured !== width) { width = measured; draw(); }
  }).observe(svg);
  draw();
  return {
    el: h('figure', { class: 'chart-figure', style: 'margin:0' }, h('figcaption', { class: 'label-text' }, title), svg, legend),
    push(sample) {
      sample.forEach((v, i) => {
        values[i].push(Math.max(0, v));
        if (values[i].length > points) values[i].shift();
      });
      draw();
    },
  };
}

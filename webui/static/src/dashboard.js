// The supervision dashboard's charts (Chart.js from npm, bundled by scripts/bundle.mjs; no CDN).
// The figures come from <script type="application/json" id="dashboard-data"> (CSP: no inline script);
// clicking a bar or a point opens the case list behind it, as the numbers in the tables do.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement,
  Legend, Tooltip);
Chart.defaults.font.family = '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif';
Chart.defaults.animation = false;  // read at a glance, and a drawn canvas at once for print and tests

const RED = '#d92d20';
const BLUE = '#2e6fdb';
const GREEN = '#12a150';
const ORANGE = '#f79009';

function open(links) {
  return (event, elements) => {
    if (!elements.length || !links) return;
    const { datasetIndex, index } = elements[0];
    const row = links[index];
    const href = Array.isArray(row) ? row[datasetIndex] : row;
    if (href) window.location.assign(href);
  };
}

function empty(canvas, text) {
  const note = document.createElement('p');
  note.className = 'empty';
  note.textContent = text;
  canvas.parentElement.replaceWith(note);
}

function unitsChart(canvas, data, text) {
  if (!data.labels.length) return empty(canvas, text.empty);
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: data.labels,
      datasets: [
        { label: text.overdue, data: data.overdue, backgroundColor: RED },
        { label: text.open, data: data.open, backgroundColor: BLUE },
      ],
    },
    options: {
      indexAxis: 'y', maintainAspectRatio: false, onClick: open(data.links),
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

function ratesChart(canvas, data, text) {
  if (!data.labels.length) return empty(canvas, text.empty);
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: data.labels,
      datasets: [{
        label: text.rate, data: data.values,
        backgroundColor: data.values.map((v) => (v < 80 ? ORANGE : GREEN)),
      }],
    },
    options: {
      indexAxis: 'y', maintainAspectRatio: false, onClick: open(data.links),
      scales: { x: { min: 0, max: 100 } },
    },
  });
}

function trendChart(canvas, data, text) {
  return new Chart(canvas, {
    type: 'line',
    data: {
      labels: data.labels,
      datasets: [
        { label: text.rate, data: data.rate, borderColor: GREEN, backgroundColor: GREEN, yAxisID: 'rate', spanGaps: true },
        { label: text.overdue, data: data.overdue, borderColor: RED, backgroundColor: RED, yAxisID: 'count' },
        { label: text.supervised, data: data.supervised, borderColor: ORANGE, backgroundColor: ORANGE, yAxisID: 'count' },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: {
        rate: { position: 'left', min: 0, max: 100, title: { display: true, text: text.rate } },
        count: { position: 'right', beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false } },
      },
    },
  });
}

function main() {
  const source = document.getElementById('dashboard-data');
  if (!source) return;
  const figures = JSON.parse(source.textContent);
  const text = figures.text;
  const drawn = [
    unitsChart(document.getElementById('chart-units'), figures.units, text),
    ratesChart(document.getElementById('chart-rates'), figures.rates, text),
    trendChart(document.getElementById('chart-trend'), figures.trend, text),
  ];
  document.body.dataset.charts = String(drawn.filter(Boolean).length);
}

main();

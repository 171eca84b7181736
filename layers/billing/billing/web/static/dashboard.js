// The finance dashboard's charts (billing.web.dashboard): Chart.js, served by the stack from the pinned npm package,
// draws them from the report answers the page embeds (#dashboard-data), exactly as /v1/reports/{name} gives them:
// amounts in minor units, months as their first day. No eval, no inline style: the page's CSP allows 'self' and a
// nonce only. Each canvas says which chart it is (data-chart) and for which currency (data-currency).
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") {
    return; // the tables and the CSV links work without the charts
  }
  const data = JSON.parse(source.textContent);
  const t = data.labels;
  const lang = data.lang;
  const reports = data.reports;

  function exponent(currency) {
    return data.exponents[currency] === undefined ? 2 : data.exponents[currency];
  }
  function major(minor, currency) {
    return minor / Math.pow(10, exponent(currency));
  }
  function moneyFormat(currency, compact) {
    const digits = exponent(currency);
    const options = { style: "currency", currency: currency.toUpperCase() };
    if (compact) {
      options.notation = "compact";
      options.maximumFractionDigits = 1;
    } else {
      options.minimumFractionDigits = digits;
      options.maximumFractionDigits = digits;
    }
    return new Intl.NumberFormat(lang, options);
  }
  const monthFormat = new Intl.DateTimeFormat(lang, { year: "numeric", month: "short", timeZone: "UTC" });
  function month(iso) {
    return monthFormat.format(new Date(iso + "T00:00:00Z"));
  }
  function rows(report, section, currency) {
    return reports[report][section].filter(function (row) {
      return row.currency === currency;
    });
  }

  const COLORS = {
    new: "#16a34a",
    expansion: "#86efac",
    reactivation: "#0d9488",
    contraction: "#f59e0b",
    churn: "#dc2626",
    mrr: "#1e3a8a",
    invoiced: "#94a3b8",
    collected: "#2f6fed",
    entered_dunning: "#f59e0b",
    recovered: "#16a34a",
    written_off: "#dc2626",
  };
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#52606d";
  Chart.defaults.animation = false; // drawn once, at once: a dashboard is read, not watched

  function moneyScale(currency, stacked) {
    const compact = moneyFormat(currency, true);
    return {
      stacked: stacked,
      ticks: {
        callback: function (value) {
          return compact.format(value);
        },
      },
    };
  }
  function moneyTooltip(currency) {
    const full = moneyFormat(currency, false);
    return {
      callbacks: {
        label: function (item) {
          return item.dataset.label + ": " + full.format(item.parsed.y === undefined ? item.parsed.x : item.parsed.y);
        },
      },
    };
  }

  function mrrChart(canvas, currency) {
    const months = rows("mrr", "months", currency);
    function series(key) {
      return months.map(function (row) {
        return major(row[key], currency);
      });
    }
    const bar = function (key) {
      return { type: "bar", label: t[key], data: series(key), backgroundColor: COLORS[key], stack: "movements" };
    };
    return new Chart(canvas, {
      data: {
        labels: months.map(function (row) {
          return month(row.month);
        }),
        datasets: [
          {
            type: "line",
            label: t.mrr_line,
            data: series("mrr_end"),
            borderColor: COLORS.mrr,
            backgroundColor: COLORS.mrr,
            stack: "mrr",
            tension: 0, // straight: a curve would show MRR that no month had
            order: 0,
          },
          bar("new"),
          bar("expansion"),
          bar("reactivation"),
          bar("contraction"),
          bar("churn"),
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { x: { stacked: true }, y: moneyScale(currency, true) },
        plugins: { tooltip: moneyTooltip(currency), legend: { position: "bottom" } },
      },
    });
  }

  function flowsChart(canvas, currency) {
    const months = rows("revenue", "months", currency);
    const dataset = function (key) {
      return {
        label: t[key],
        data: months.map(function (row) {
          return major(row[key], currency);
        }),
        backgroundColor: COLORS[key],
      };
    };
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: months.map(function (row) {
          return month(row.month);
        }),
        datasets: [dataset("invoiced"), dataset("collected")],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: moneyScale(currency, false) },
        plugins: { tooltip: moneyTooltip(currency), legend: { position: "bottom" } },
      },
    });
  }

  function funnelChart(canvas, currency) {
    const totals = { entered_dunning: 0, recovered: 0, written_off: 0 };
    const amounts = { entered_dunning: 0, recovered: 0, written_off: 0 };
    rows("collections", "months", currency).forEach(function (row) {
      Object.keys(totals).forEach(function (key) {
        totals[key] += row[key];
        amounts[key] += row[key + "_amount"];
      });
    });
    const stages = Object.keys(totals);
    const full = moneyFormat(currency, false);
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: stages.map(function (key) {
          return t[key];
        }),
        datasets: [
          {
            label: t.invoice_count,
            data: stages.map(function (key) {
              return totals[key];
            }),
            backgroundColor: stages.map(function (key) {
              return COLORS[key];
            }),
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) {
                const key = stages[item.dataIndex];
                return t.invoice_count + ": " + item.parsed.x + " · " + full.format(major(amounts[key], currency));
              },
            },
          },
        },
      },
    });
  }

  const DRAW = { mrr: mrrChart, flows: flowsChart, funnel: funnelChart };
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    const draw = DRAW[canvas.dataset.chart];
    if (draw) {
      draw(canvas, canvas.dataset.currency);
      canvas.parentElement.classList.add("drawn");
    }
  });
})();

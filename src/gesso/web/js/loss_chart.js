// A small SVG line chart of training loss by step (no charting library needed for one line).

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** points: [{step, loss}] -> <svg> with a text summary for screen readers. */
export function lossChart(points, { width = 480, height = 200 } = {}) {
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "loss-chart", role: "img" });
  const title = svg("title", {});
  chart.append(title);
  if (!points.length) {
    title.textContent = "No loss values yet";
    return chart;
  }
  const pad = 32;
  const steps = points.map(point => point.step);
  const losses = points.map(point => point.loss);
  const [minStep, maxStep] = [Math.min(...steps), Math.max(...steps)];
  const [minLoss, maxLoss] = [Math.min(...losses), Math.max(...losses)];
  const x = step => pad + (maxStep === minStep ? 0.5 : (step - minStep) / (maxStep - minStep)) * (width - 2 * pad);
  const y = loss => height - pad - (maxLoss === minLoss ? 0.5 : (loss - minLoss) / (maxLoss - minLoss)) * (height - 2 * pad);
  chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }));
  chart.append(svg("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis" }));
  chart.append(svg("polyline", { points: points.map(point => `${x(point.step)},${y(point.loss)}`).join(" "), class: "line" }));
  for (const [text, tx, ty] of [[maxLoss.toFixed(3), 2, pad], [minLoss.toFixed(3), 2, height - pad], [`step ${maxStep}`, width - pad - 40, height - 8]]) {
    const label = svg("text", { x: tx, y: ty, class: "tick" });
    label.textContent = text;
    chart.append(label);
  }
  const last = points[points.length - 1];
  title.textContent = `Training loss over ${points.length} points: from ${points[0].loss.toFixed(4)} at step ${points[0].step} to ${last.loss.toFixed(4)} at step ${last.step}`;
  return chart;
}

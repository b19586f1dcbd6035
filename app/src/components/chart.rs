//! A small line chart: drawn as SVG on the server (it reads without JavaScript; each
//! column carries a native tooltip), hydrated in the browser so hovering or focusing a column
//! shows its values in the readout under the chart. The layout is
//! `cortex_core::chart::ChartData::plot`.

use cortex_core::chart::ChartData;
use leptos::prelude::*;

/// Colours of the series, in order (Tailwind's 600s; readable on white).
const COLOURS: [&str; 6] = [
    "#4f46e5", "#059669", "#d97706", "#e11d48", "#0284c7", "#7c3aed",
];

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 180.0;

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// A line chart with a legend and a readout. `label` names it for screen readers;
/// `empty` is what it says when there is nothing to draw.
#[component]
pub fn LineChart(
    data: ChartData,
    /// The element id (e2e tests and links find the chart by it).
    #[prop(into)]
    id: String,
    label: String,
    #[prop(default = "No data yet.")] empty: &'static str,
) -> impl IntoView {
    if data.is_empty() {
        return view! {
            <p class="mt-3 text-sm text-slate-500" id=id data-empty="true">{empty}</p>
        }
        .into_any();
    }
    let plot = data.plot(WIDTH, HEIGHT);
    let last = plot.columns.len().saturating_sub(1);
    let summaries: Vec<String> = plot.columns.iter().map(|c| c.summary.clone()).collect();
    let hovered = RwSignal::new(None::<usize>);
    let (l, t, r, b) = plot.area;
    let readout = {
        let summaries = summaries.clone();
        move || {
            let i = hovered.get().unwrap_or(last);
            summaries.get(i).cloned().unwrap_or_default()
        }
    };
    let legend = (plot.lines.len() > 1 || plot.reference.is_some()).then(|| {
        let lines: Vec<(String, &'static str)> = plot
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), COLOURS[i % COLOURS.len()]))
            .collect();
        let reference = plot.reference.clone();
        view! {
            <ul class="mt-1 flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-600">
                {lines.into_iter().map(|(name, colour)| view! {
                    <li class="flex items-center gap-1">
                        <span class="inline-block h-0.5 w-4" style=format!("background:{colour}")></span>{name}
                    </li>
                }).collect_view()}
                {reference.map(|(_, text)| view! {
                    <li class="flex items-center gap-1"><span class="inline-block w-4 border-t border-dashed border-slate-500"></span>{text}</li>
                })}
            </ul>
        }
    });
    let xs: Vec<f64> = plot.columns.iter().map(|c| c.x).collect();
    let hover_line = move || {
        hovered.get().and_then(|i| {
            xs.get(i).copied().map(|x| {
                view! {
                    <line x1=n(x) x2=n(x) y1=n(t) y2=n(b) stroke="#94a3b8" stroke-width="1" pointer-events="none"></line>
                }
            })
        })
    };
    view! {
        <figure class="mt-3 max-w-3xl" id=id>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") class="h-auto w-full" role="img" aria-label=label.clone()
                on:mouseleave=move |_| hovered.set(None)>
                {plot.y_ticks.iter().map(|(y, text)| view! {
                    <line x1=n(l) x2=n(r) y1=n(*y) y2=n(*y) stroke="#e2e8f0" stroke-width="1"></line>
                    <text x=n(l - 6.0) y=n(*y + 3.5) text-anchor="end" font-size="11" fill="#475569">{text.clone()}</text>
                }).collect_view()}
                {plot.x_ticks.iter().enumerate().map(|(k, (x, text))| {
                    // The first and last labels stay inside the chart.
                    let anchor = if k == 0 && plot.x_ticks.len() > 1 { "start" } else if k + 1 == plot.x_ticks.len() && k > 0 { "end" } else { "middle" };
                    view! { <text x=n(*x) y=n(b + 15.0) text-anchor=anchor font-size="11" fill="#475569">{text.clone()}</text> }
                }).collect_view()}
                {plot.lines.iter().enumerate().filter(|(_, line)| !line.band.is_empty()).map(|(i, line)| view! {
                    <path d=line.band.clone() fill=COLOURS[i % COLOURS.len()] fill-opacity="0.15" stroke="none"></path>
                }).collect_view()}
                {plot.reference.as_ref().map(|(y, _)| view! {
                    <line x1=n(l) x2=n(r) y1=n(*y) y2=n(*y) stroke="#64748b" stroke-width="1" stroke-dasharray="4 3"></line>
                })}
                {plot.lines.iter().enumerate().map(|(i, line)| {
                    let colour = COLOURS[i % COLOURS.len()];
                    view! {
                        <path d=line.path.clone() fill="none" stroke=colour stroke-width="2" stroke-linejoin="round" data-series=line.name.clone()></path>
                        {line.whiskers.iter().map(|(x, top, bottom)| view! {
                            <line x1=n(*x) x2=n(*x) y1=n(*top) y2=n(*bottom) stroke=colour stroke-width="1.5" stroke-opacity="0.6"></line>
                        }).collect_view()}
                        {line.dots.iter().map(|(x, y)| view! {
                            <circle cx=n(*x) cy=n(*y) r="2.5" fill=colour></circle>
                        }).collect_view()}
                    }
                }).collect_view()}
                {hover_line}
                <g data-columns="">
                    {plot.columns.iter().enumerate().map(|(i, c)| view! {
                        <rect x=n(c.left) y=n(t) width=n(c.width) height=n(b - t) fill="transparent"
                            data-column=i.to_string()
                            on:mouseenter=move |_| hovered.set(Some(i))>
                            <title>{c.summary.clone()}</title>
                        </rect>
                    }).collect_view()}
                </g>
            </svg>
            {legend}
            <figcaption class="mt-1 text-xs text-slate-600" aria-live="polite" data-readout="">{readout}</figcaption>
        </figure>
    }
    .into_any()
}

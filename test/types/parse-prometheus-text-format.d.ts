/** Types for parse-prometheus-text-format 1.1 (the package ships none). */
declare module 'parse-prometheus-text-format' {
  namespace parsePrometheusTextFormat {
    interface Sample {
      labels?: Record<string, string>;
      /** Counters, gauges, untyped. */
      value?: string;
      /** Histograms: upper bound (`le`) → cumulative count. */
      buckets?: Record<string, string>;
      /** Summaries: quantile → value. */
      quantiles?: Record<string, string>;
      count?: string;
      sum?: string;
    }
    interface MetricFamily {
      name: string;
      help: string;
      type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
      metrics: Sample[];
    }
  }
  function parsePrometheusTextFormat(text: string): parsePrometheusTextFormat.MetricFamily[];
  export = parsePrometheusTextFormat;
}

import { Component, type ErrorInfo, type ReactNode } from 'react';

/**
 * A page that fails to render (an answer shaped unlike what it expects, a
 * bug) shows a message and a way back instead of a blank screen.
 */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error?: Error }> {
  override state: { error?: Error } = {};

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('the page failed to render', error, info.componentStack);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="page">
        <div className="trouble" role="alert">
          <strong>This page could not be shown.</strong>
          <p>{this.state.error.message}</p>
        </div>
        <p>
          <a href="#/" onClick={() => this.setState({ error: undefined })}>Back to the portfolios</a> or reload the page.
        </p>
      </div>
    );
  }
}

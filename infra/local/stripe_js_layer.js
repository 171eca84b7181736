// The local stack's addition to localstripe's stand-in for Stripe.js (served after it, as one script, by
// infra/local/localstripe_layer.py). localstripe's confirmCardPayment only plays a 3-D Secure prompt and never sends
// the card; this one does what Stripe.js does: it makes a PaymentMethod of the card typed in the card element, then
// confirms the PaymentIntent with it, with the publishable key and the intent's client secret. A card that needs
// 3-D Secure is then handed to localstripe's own prompt.
(function () {
  const standIn = Stripe;

  async function post(apiKey, path, fields) {
    const body = new URLSearchParams({key: apiKey, ...fields});
    try {
      const response = await fetch(`${LOCALSTRIPE_BASE_API}${path}`, {method: 'POST', body});
      const json = await response.json().catch(() => ({}));
      if (!response.ok || json.error) {
        return {error: json.error || {message: `HTTP ${response.status}`}};
      }
      return {object: json};
    } catch (err) {
      return {error: {message: String(err)}};
    }
  }

  Stripe = (apiKey, options) => {
    const stripe = standIn(apiKey, options);
    const authenticate = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const intent = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      let method = data && data.payment_method;
      if (method && typeof method === 'object') {
        const typed = (method.card && method.card.value && method.card.value.card) || {};
        const made = await post(apiKey, '/v1/payment_methods', {
          type: 'card',
          'card[number]': (typed.number || '').replace(/\s+/g, ''),
          'card[exp_month]': typed.exp_month || '',
          'card[exp_year]': typed.exp_year || '',
          'card[cvc]': typed.cvc || '',
        });
        if (made.error) {
          return {error: made.error};
        }
        method = made.object.id;
      }
      const fields = {client_secret: clientSecret};
      if (method) {
        fields.payment_method = method;
      }
      const confirmed = await post(apiKey, `/v1/payment_intents/${intent}/confirm`, fields);
      if (confirmed.error) {
        return {error: confirmed.error};
      }
      if (confirmed.object.status === 'requires_action') {
        return authenticate(clientSecret, data);  // localstripe's 3-D Secure prompt, then its answer
      }
      if (confirmed.object.status === 'requires_payment_method') {
        const error = confirmed.object.last_payment_error || {message: 'Your card was declined.'};
        return {error, paymentIntent: confirmed.object};
      }
      return {paymentIntent: confirmed.object};
    };
    return stripe;
  };
})();
